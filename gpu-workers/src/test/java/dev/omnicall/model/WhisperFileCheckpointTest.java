package dev.omnicall.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import dev.omnicall.model.io.CheckpointException;
import dev.omnicall.model.io.ShardedCheckpoint;
import dev.omnicall.model.io.TorchCheckpoint;
import dev.omnicall.model.io.WhisperCheckpoint;
import dev.omnicall.model.omni.GenerationOptions;
import dev.omnicall.model.omni.OmniModel;
import dev.omnicall.model.omni.SpeechGenerator;
import dev.omnicall.model.omni.TinyCheckpointWriter.EncoderLayout;
import dev.omnicall.model.omni.TinyCheckpointWriter;
import dev.omnicall.model.omni.TurnGenerator;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The second checkpoint layout: the Whisper encoder in openai's own file (large-v3.pt style) named by
 * config.json {@code speech_encoder}, not in the shards. Same seed, same weights: both layouts must give
 * the same speech embeddings and the same greedy tokens.
 */
class WhisperFileCheckpointTest {
    private static final float[] AUDIO = TinyModels.testAudio(1.0, 7);
    private static final int TOKENS = 12;

    @TempDir
    Path tmp;

    private static Path openAiLayout() {
        return TinyCheckpointWriter.writeIfAbsent(
                Paths.get("target", "tiny-checkpoint-openai-" + TinyModels.SEED).toAbsolutePath(), TinyModels.SEED,
                EncoderLayout.OPENAI_FILE);
    }

    @BeforeAll
    static void writeBoth() {
        TinyModels.checkpointDir();
        openAiLayout();
    }

    private static float[] speech(OmniModel model) {
        NDArray rows = model.encodeSpeech(AUDIO);
        try (rows) {
            return rows.toFloatArray();
        }
    }

    private static long[] greedyTokens(OmniModel model) {
        SpeechGenerator generator = new SpeechGenerator(model, GenerationOptions.defaults().withMaxNewTokens(TOKENS));
        try (TurnGenerator turn = generator.start(AUDIO, List.of(), null)) {
            while (!turn.isDone()) {
                turn.step();
            }
            return turn.tokenIds();
        }
    }

    /** A copy of a checkpoint dir (files only; small). */
    private Path copy(Path src, String name) throws IOException {
        return TinyModels.copyCheckpoint(src, tmp.resolve(name));
    }

    private static ModelOptions fast() {
        return ModelOptions.defaults().withPaddedSeconds(0);
    }

    @Test
    void shouldGiveTheSameSpeechEmbeddingsAndTokensFromTheOpenAiFileAsFromTheShards() {
        // Given the tiny checkpoint written in both layouts with one seed
        Path dir = openAiLayout();
        try (ShardedCheckpoint shards = ShardedCheckpoint.open(dir)) {
            assertThat(shards.names()).noneMatch(n -> n.startsWith(WhisperEncoder.PREFIX));
        }
        Map<String, Object> root = TorchCheckpoint.readRoot(dir.resolve(TinyCheckpointWriter.OPENAI_ENCODER_FILE));
        assertThat(root).containsOnlyKeys("dims", "model_state_dict");
        assertThat(((Map<?, ?>) root.get("model_state_dict")).keySet()).anyMatch(k -> k.toString().startsWith("decoder."));
        OmniModel fromShards = TinyModels.model();
        // When the openai-file layout is loaded
        try (OmniModel fromFile = OmniModel.load(dir, fast())) {
            // Then the encoder took every encoder.* tensor and no decoder.* one, and everything downstream agrees
            assertThat(fromFile.encoder().blocks).hasSize(fromShards.config().speechEncoderNumLayers());
            assertThat(speech(fromFile)).containsExactly(speech(fromShards));
            long[] tokens = greedyTokens(fromFile);
            assertThat(tokens).hasSizeGreaterThan(0).containsExactly(greedyTokens(fromShards));
        }
    }

    @Test
    void shouldNameTheFileWhenTheWhisperFileIsMissingAndTakeTheOptionInstead() throws IOException {
        // Given the openai-file layout whose large-v3.pt was moved away
        Path dir = copy(openAiLayout(), "moved");
        Path moved = tmp.resolve("elsewhere/whisper.pt");
        Files.createDirectories(moved.getParent());
        Files.move(dir.resolve(TinyCheckpointWriter.OPENAI_ENCODER_FILE), moved);
        // When it is loaded as configured, Then the error names the file it looked for and where the name came from
        assertThatThrownBy(() -> OmniModel.load(dir, fast())).isInstanceOf(CheckpointException.class)
                .hasMessageContaining(dir.resolve(TinyCheckpointWriter.OPENAI_ENCODER_FILE).toString())
                .hasMessageContaining("config.json speech_encoder").hasMessageContaining("does not exist");
        // When the option names the moved file, Then it loads and encodes as the shards layout does
        try (OmniModel model = OmniModel.load(dir, fast().withSpeechEncoder(moved.toString()))) {
            assertThat(speech(model)).containsExactly(speech(TinyModels.model()));
        }
        // And an option naming a file that is not there is reported as the option
        assertThatThrownBy(() -> OmniModel.load(dir, fast().withSpeechEncoder("nope/large-v3.pt")))
                .isInstanceOf(CheckpointException.class).hasMessageContaining(dir.resolve("nope/large-v3.pt").toString())
                .hasMessageContaining("speechEncoder option");
    }

    @Test
    void shouldNameBothValuesWhenTheFilesDimsDisagreeWithTheConfig() throws IOException {
        // Given config.json claiming 3 encoder layers and 64 heads while the file's dims say 2 and 4
        Path dir = copy(openAiLayout(), "dims");
        Path config = dir.resolve("config.json");
        String text = Files.readString(config);
        Files.writeString(config, text.replace("\"speech_encoder_num_layers\": 2", "\"speech_encoder_num_layers\": 3"));
        // When loaded, Then the error names the file, the dims key, the config key and both values
        assertThatThrownBy(() -> OmniModel.load(dir, fast())).isInstanceOf(CheckpointException.class)
                .hasMessageContaining(TinyCheckpointWriter.OPENAI_ENCODER_FILE)
                .hasMessageContaining("n_audio_layer is 2").hasMessageContaining("speech_encoder_num_layers is 3");
        Files.writeString(config, text.replace("\"speech_encoder_num_heads\": 4", "\"speech_encoder_num_heads\": 8"));
        assertThatThrownBy(() -> OmniModel.load(dir, fast())).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("n_audio_head is 4").hasMessageContaining("speech_encoder_num_heads is 8");
    }

    @Test
    void shouldNameTheTensorAndTheFileWhenAnEncoderTensorIsMissingFromThePt() throws IOException {
        // Given an openai file without encoder.ln_post.bias (re-written by the project's reader and writer)
        Path dir = copy(openAiLayout(), "missing-tensor");
        Path pt = dir.resolve(TinyCheckpointWriter.OPENAI_ENCODER_FILE);
        var w = new dev.omnicall.model.io.TorchCheckpointWriter();
        try (var in = TorchCheckpoint.open(pt, WhisperCheckpoint.STATE_KEY);
                var m = ai.djl.ndarray.NDManager.newBaseManager()) {
            for (String n : in.names()) {
                if (!n.equals("encoder.ln_post.bias")) {
                    var info = in.info(n);
                    w.put(n, info.shape(), in.load(m, n, ai.djl.ndarray.types.DataType.FLOAT32, info.shape())
                            .toFloatArray(), info.dtype());
                }
            }
        }
        w.write(pt, WhisperCheckpoint.STATE_KEY, Map.of(WhisperCheckpoint.DIMS_KEY,
                TinySharedBlocks.whisperDims(TinyCheckpointWriter.tinyConfig().speechBlocks())));
        // When loaded, Then the error names the openai tensor name and the file
        assertThatThrownBy(() -> OmniModel.load(dir, fast())).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("encoder.ln_post.bias").hasMessageContaining(pt.toString());
    }

    @Test
    void shouldUseTheShardsWhenBothTheShardsAndAWhisperFileHoldTheEncoder() {
        // Given the shards layout and an option naming a file that does not even exist
        // When loaded, Then the shards win and the file is never opened
        try (OmniModel model = OmniModel.load(TinyModels.checkpointDir(),
                fast().withSpeechEncoder(tmp.resolve("absent.pt").toString()))) {
            assertThat(speech(model)).containsExactly(speech(TinyModels.model()));
        }
    }

    @Test
    void shouldReadAnOpenAiStyleFileWrittenByDebianPyTorch() throws Exception {
        // Given the tiny large-v3.pt loaded by torch and saved again by torch.save in openai's dict layout
        Assumptions.assumeTrue(PythonOracle.torchAvailable(), "Debian /usr/bin/python3 with torch is not available");
        Path dir = copy(openAiLayout(), "torch-written");
        Path ours = dir.resolve(TinyCheckpointWriter.OPENAI_ENCODER_FILE);
        Path theirs = tmp.resolve("torch/large-v3.pt");
        Files.createDirectories(theirs.getParent());
        String out = PythonOracle.run("""
                import torch, sys
                ck = torch.load(sys.argv[1], map_location='cpu')
                sd = ck['model_state_dict']
                assert all(t.dtype == torch.float16 for t in sd.values())
                # fresh tensors (not views of our storages), a plain dict of ints for dims, as openai saves them
                state = {k: v.clone().contiguous() for k, v in sd.items()}
                torch.save({'dims': dict(ck['dims']), 'model_state_dict': state}, sys.argv[2])
                print('tensors', len(state), 'dims', ck['dims']['n_audio_state'], ck['dims']['n_audio_layer'])
                """, ours.toString(), theirs.toString());
        assertThat(out).contains("dims 64 2");
        Files.delete(ours);
        // When the model loads the torch-written file through the option
        try (OmniModel model = OmniModel.load(dir, fast().withSpeechEncoder(theirs.toString()))) {
            // Then its speech embeddings equal those of the shards layout
            assertThat(speech(model)).containsExactly(speech(TinyModels.model()));
        }
    }
}
