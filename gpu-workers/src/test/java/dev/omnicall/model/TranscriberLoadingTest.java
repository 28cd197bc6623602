package dev.omnicall.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.omnicall.model.io.CheckpointException;
import dev.omnicall.model.io.DType;
import dev.omnicall.model.io.SafeTensorsFile;
import dev.omnicall.model.io.SafeTensorsWriter;
import dev.omnicall.model.io.ShardedCheckpoint;
import dev.omnicall.model.io.TensorInfo;
import dev.omnicall.model.io.TorchCheckpoint;
import dev.omnicall.model.io.TorchCheckpointWriter;
import dev.omnicall.model.io.WhisperCheckpoint;
import dev.omnicall.model.omni.GenerationOptions;
import dev.omnicall.model.omni.OmniModel;
import dev.omnicall.model.omni.SpeechGenerator;
import dev.omnicall.model.omni.TinyCheckpointWriter.EncoderLayout;
import dev.omnicall.model.omni.TinyCheckpointWriter;
import dev.omnicall.model.omni.TurnGenerator;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import java.util.function.Supplier;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Where the transcriber's parts come from: the decoder in the shards or in openai's large-v3.pt (also one
 * written by Debian's torch.save), the vocabulary by option, config.json or default; absence (no decoder,
 * no vocabulary, switched off) loads the model without a transcriber and says why in one INFO line; broken
 * parts fail naming the tensor or both numbers.
 */
class TranscriberLoadingTest {
    private static final float[] AUDIO = TinyModels.testAudio(1.0, 5);
    private static final int TOKENS = 12;

    @TempDir
    Path tmp;

    private static ModelOptions fast() {
        return ModelOptions.defaults().withPaddedSeconds(0);
    }

    private static Path openAiLayout() {
        return TinyCheckpointWriter.writeIfAbsent(
                Paths.get("target", "tiny-checkpoint-openai-" + TinyModels.SEED).toAbsolutePath(), TinyModels.SEED,
                EncoderLayout.OPENAI_FILE);
    }

    private Path copy(Path src, String name) throws IOException {
        return TinyModels.copyCheckpoint(src, tmp.resolve(name));
    }

    private static long[] transcript(OmniModel model) {
        Transcriber transcriber = model.transcriber().orElseThrow();
        try (NDArray xa = model.encodeAudio(AUDIO); Transcription t = transcriber.start(xa, "en", TOKENS)) {
            while (!t.step()) {
                // greedy to the end
            }
            return t.tokenIds();
        }
    }

    private static long[] replyTokens(OmniModel model) {
        SpeechGenerator generator = new SpeechGenerator(model, GenerationOptions.defaults().withMaxNewTokens(8));
        try (TurnGenerator turn = generator.start(AUDIO, List.of(), null)) {
            while (!turn.isDone()) {
                turn.step();
            }
            return turn.tokenIds();
        }
    }

    /** What the body logged to stderr (slf4j-simple writes there) while it ran. */
    private static <T> String logOf(Supplier<T> body, java.util.function.Consumer<T> then) {
        PrintStream old = System.err;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        T result;
        System.setErr(new PrintStream(captured, true, StandardCharsets.UTF_8));
        try {
            result = body.get();
        } finally {
            System.setErr(old);
        }
        then.accept(result);
        return captured.toString(StandardCharsets.UTF_8);
    }

    /** Rewrites every shard without the tensors matched by drop, and the index to match. */
    private static void dropFromShards(Path dir, Predicate<String> drop) throws IOException {
        List<Path> shards;
        try (ShardedCheckpoint ckpt = ShardedCheckpoint.open(dir)) {
            shards = ckpt.names().stream().map(n -> ckpt.info(n).file()).distinct().toList();
        }
        for (Path shard : shards) {
            rewriteShard(shard, drop, null, null);
        }
        Path index = dir.resolve(ShardedCheckpoint.INDEX_FILE);
        JsonObject root = JsonParser.parseString(Files.readString(index)).getAsJsonObject();
        JsonObject map = root.getAsJsonObject("weight_map");
        for (String name : List.copyOf(map.keySet())) {
            if (drop.test(name)) {
                map.remove(name);
            }
        }
        Files.writeString(index, root.toString());
    }

    /** Rewrites one shard: tensors matched by drop are left out, the one named replaced gets dtype and shape. */
    private static void rewriteShard(Path shard, Predicate<String> drop, String replaced, Object[] dtypeAndShape)
            throws IOException {
        SafeTensorsWriter w = new SafeTensorsWriter();
        try (SafeTensorsFile f = SafeTensorsFile.open(shard)) {
            for (String n : f.names()) {
                TensorInfo info = f.info(n);
                if (drop.test(n)) {
                    continue;
                }
                if (n.equals(replaced)) {
                    DType dtype = (DType) dtypeAndShape[0];
                    long[] shape = (long[]) dtypeAndShape[1];
                    long count = 1;
                    for (long d : shape) {
                        count *= d;
                    }
                    w.put(n, dtype, shape, new byte[(int) (count * dtype.bytes())]);
                    continue;
                }
                byte[] data = new byte[(int) info.length()];
                try (var ch = java.nio.channels.FileChannel.open(shard)) {
                    ch.read(java.nio.ByteBuffer.wrap(data), info.offset());
                }
                w.put(n, info.dtype(), info.shape(), data);
            }
        }
        w.metadata("format", "pt");
        w.write(shard);
    }

    private static Path shardOf(Path dir, String name) {
        try (ShardedCheckpoint ckpt = ShardedCheckpoint.open(dir)) {
            return ckpt.info(name).file();
        }
    }

    @Test
    void shouldGiveTheSameTranscriptFromLargeV3PtAsFromTheShards() {
        // Given the tiny checkpoint in both layouts: decoder in the shards, and decoder.* in speech_encoder/large-v3.pt
        Path dir = openAiLayout();
        try (ShardedCheckpoint shards = ShardedCheckpoint.open(dir)) {
            assertThat(shards.names()).noneMatch(n -> n.startsWith(WhisperDecoder.PREFIX));
        }
        assertThat(dir.resolve("speech_encoder").resolve(WhisperTokenizer.FILE_NAME)).exists();
        // When both load
        try (OmniModel fromFile = OmniModel.load(dir, fast())) {
            // Then both have a transcriber with the same dims and the same greedy tokens
            Transcriber t = fromFile.transcriber().orElseThrow();
            assertThat(t.decoder().dims()).isEqualTo(TinyModels.model().transcriber().orElseThrow().decoder().dims());
            assertThat(t.decoder().dims().nTextLayer()).isEqualTo(TinySharedBlocks.TEXT_LAYERS);
            long[] tokens = transcript(fromFile);
            assertThat(tokens).hasSizeGreaterThan(0).containsExactly(transcript(TinyModels.model()));
        }
    }

    @Test
    void shouldLoadAndReplyAsBeforeWithoutTranscriberWhenTheCheckpointHasNoDecoder() throws IOException {
        // Given the shards layout with every model.speech_decoder.* tensor removed
        Path dir = copy(TinyModels.checkpointDir(), "no-decoder");
        dropFromShards(dir, n -> n.startsWith(WhisperDecoder.PREFIX));
        // When it loads
        String log = logOf(() -> OmniModel.load(dir, fast()), model -> {
            try (model) {
                // Then there is no transcriber, and the reply is the one the full checkpoint gives
                assertThat(model.transcriber()).isEmpty();
                assertThat(replyTokens(model)).containsExactly(replyTokens(TinyModels.model()));
            }
        });
        // And one INFO line says what is missing
        assertThat(log.lines().filter(l -> l.contains("transcriber:"))).singleElement().asString()
                .contains("INFO").contains("no Whisper decoder").contains(WhisperDecoder.PREFIX);
    }

    @Test
    void shouldTakeTheDecoderFromTheNamedWhisperFileWhenOnlyTheEncoderIsInTheShards() throws IOException {
        // Given the encoder in the shards but no decoder there, and openai's file (decoder + vocabulary) elsewhere
        Path dir = copy(TinyModels.checkpointDir(), "encoder-only");
        dropFromShards(dir, n -> n.startsWith(WhisperDecoder.PREFIX));
        Files.delete(dir.resolve(WhisperTokenizer.FILE_NAME));
        Path pt = openAiLayout().resolve(TinyCheckpointWriter.OPENAI_ENCODER_FILE);
        // When the speechEncoder option names that file
        try (OmniModel model = OmniModel.load(dir, fast().withSpeechEncoder(pt.toString()))) {
            // Then the encoder still comes from the shards and the decoder and vocabulary from beside the file
            assertThat(transcript(model)).containsExactly(transcript(TinyModels.model()));
        }
    }

    @Test
    void shouldSayWhyThereIsNoTranscriberWhenSwitchedOffOrTheVocabularyIsMissing() throws IOException {
        Path dir = copy(TinyModels.checkpointDir(), "vocabulary");
        // switched off
        String off = logOf(() -> OmniModel.load(dir, fast().withTranscriber(false)),
                model -> {
                    try (model) {
                        assertThat(model.transcriber()).isEmpty();
                    }
                });
        assertThat(off).contains("transcriber: none, switched off");
        // the vocabulary moved away from its default place
        Path moved = tmp.resolve("elsewhere/vocab.tiktoken");
        Files.createDirectories(moved.getParent());
        Files.move(dir.resolve(WhisperTokenizer.FILE_NAME), moved);
        String missing = logOf(() -> OmniModel.load(dir, fast()), model -> {
            try (model) {
                assertThat(model.transcriber()).isEmpty();
            }
        });
        assertThat(missing).contains("transcriber: none").contains(dir.resolve(WhisperTokenizer.FILE_NAME).toString())
                .contains("does not exist").contains("whisper/assets/multilingual.tiktoken");
        // named by the option: found
        try (OmniModel model = OmniModel.load(dir, fast().withTranscriberVocabulary(moved.toString()))) {
            assertThat(transcript(model)).containsExactly(transcript(TinyModels.model()));
        }
        // named by config.json speech_tokenizer, relative to the checkpoint dir: found
        Files.createDirectories(dir.resolve("whisper"));
        Files.copy(moved, dir.resolve("whisper/v.tiktoken"));
        Path config = dir.resolve("config.json");
        JsonObject json = JsonParser.parseString(Files.readString(config)).getAsJsonObject();
        json.addProperty("speech_tokenizer", "whisper/v.tiktoken");
        Files.writeString(config, json.toString());
        try (OmniModel model = OmniModel.load(dir, fast())) {
            assertThat(model.transcriber()).isPresent();
        }
    }

    @Test
    void shouldNameTheTensorAndBothShapesWhenADecoderTensorInTheShardsIsWrong() throws IOException {
        Path dir = copy(TinyModels.checkpointDir(), "misshaped");
        String key = WhisperDecoder.PREFIX + "blocks.1.cross_attn.key.weight";
        Path shard = shardOf(dir, key);
        // misshaped
        rewriteShard(shard, n -> false, key, new Object[] {DType.F16, new long[] {64, 32}});
        assertThatThrownBy(() -> OmniModel.load(dir, fast())).isInstanceOf(CheckpointException.class)
                .hasMessageContaining(key).hasMessageContaining("[64, 32]").hasMessageContaining("[64, 64]");
        // the switch off does not even read it
        try (OmniModel model = OmniModel.load(dir, fast().withTranscriber(false))) {
            assertThat(model.transcriber()).isEmpty();
        }
        // an integer tensor
        rewriteShard(shard, n -> false, key, new Object[] {DType.I64, new long[] {64, 64}});
        assertThatThrownBy(() -> OmniModel.load(dir, fast())).isInstanceOf(CheckpointException.class)
                .hasMessageContaining(key).hasMessageContaining("I64");
        // missing (still in the index)
        rewriteShard(shard, n -> n.equals(key), null, null);
        assertThatThrownBy(() -> OmniModel.load(dir, fast())).isInstanceOf(CheckpointException.class)
                .hasMessageContaining(key);
    }

    /** Re-writes openai's file with the project's reader and writer, minus one tensor and with other dims. */
    private static void rewritePt(Path pt, String leaveOut, Map<String, Object> dims) throws IOException {
        TorchCheckpointWriter w = new TorchCheckpointWriter();
        try (TorchCheckpoint in = TorchCheckpoint.open(pt, WhisperCheckpoint.STATE_KEY);
                NDManager m = NDManager.newBaseManager()) {
            for (String n : in.names()) {
                if (!n.equals(leaveOut)) {
                    TensorInfo info = in.info(n);
                    w.put(n, info.shape(), in.load(m, n, DataType.FLOAT32, info.shape()).toFloatArray(), info.dtype());
                }
            }
        }
        w.write(pt, WhisperCheckpoint.STATE_KEY, Map.of(WhisperCheckpoint.DIMS_KEY, dims));
    }

    @Test
    void shouldNameTheDecoderTensorAndTheFileOrBothDimsWhenLargeV3PtIsWrong() throws IOException {
        Path dir = copy(openAiLayout(), "pt-broken");
        Path pt = dir.resolve(TinyCheckpointWriter.OPENAI_ENCODER_FILE);
        Map<String, Object> dims = TinySharedBlocks.whisperDims(TinyCheckpointWriter.tinyConfig().speechBlocks());
        // a decoder tensor missing: named with its openai name and the file
        rewritePt(pt, "decoder.blocks.0.mlp.2.bias", dims);
        assertThatThrownBy(() -> OmniModel.load(dir, fast())).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("decoder.blocks.0.mlp.2.bias").hasMessageContaining(pt.toString());
        // n_text_state other than the encoder's width: both values named
        Map<String, Object> wide = new java.util.LinkedHashMap<>(dims);
        wide.put("n_text_state", 128);
        rewritePt(pt, null, wide);
        assertThatThrownBy(() -> OmniModel.load(dir, fast())).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("n_text_state is 128").hasMessageContaining("speech_encoder_hidden_size is 64");
        // n_vocab that disagrees with the vocabulary beside it: both numbers named
        Map<String, Object> bigger = new java.util.LinkedHashMap<>(dims);
        bigger.put("n_vocab", 60000);
        rewritePt(pt, null, bigger);
        assertThatThrownBy(() -> OmniModel.load(dir, fast())).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("decoder.token_embedding.weight").hasMessageContaining("60000");
    }

    @Test
    void shouldRefuseAVocabularyWhoseSizeDisagreesWithTheDecoder() throws IOException {
        // Given a vocabulary with ten base tokens fewer than the tiny decoder's n_vocab implies
        Path dir = copy(TinyModels.checkpointDir(), "short-vocabulary");
        Path vocabulary = dir.resolve(WhisperTokenizer.FILE_NAME);
        List<String> lines = Files.readAllLines(vocabulary);
        Files.write(vocabulary, lines.subList(0, lines.size() - 10));
        // Then the load fails naming the file and both numbers
        assertThatThrownBy(() -> OmniModel.load(dir, fast())).isInstanceOf(CheckpointException.class)
                .hasMessageContaining(vocabulary.toString()).hasMessageContaining((lines.size() - 10) + " base tokens")
                .hasMessageContaining("n_vocab is " + TinyTiktoken.nVocab());
    }

    @Test
    void shouldReadTheDecoderFromALargeV3PtWrittenByDebianTorchSave() throws Exception {
        // Given the tiny large-v3.pt loaded by torch and saved again by torch.save, the vocabulary beside it
        Assumptions.assumeTrue(PythonOracle.torchAvailable(), "Debian /usr/bin/python3 with torch is not available");
        Path dir = copy(openAiLayout(), "torch-written");
        Path ours = dir.resolve(TinyCheckpointWriter.OPENAI_ENCODER_FILE);
        Path theirs = tmp.resolve("torch/large-v3.pt");
        Files.createDirectories(theirs.getParent());
        String out = PythonOracle.run("""
                import torch, sys
                ck = torch.load(sys.argv[1], map_location='cpu')
                sd = ck['model_state_dict']
                state = {k: v.clone().contiguous() for k, v in sd.items()}
                torch.save({'dims': dict(ck['dims']), 'model_state_dict': state}, sys.argv[2])
                dec = [k for k in state if k.startswith('decoder.')]
                print('decoder', len(dec), 'n_vocab', ck['dims']['n_vocab'], 'n_text_layer', ck['dims']['n_text_layer'])
                """, ours.toString(), theirs.toString());
        assertThat(out).contains("decoder 52").contains("n_text_layer 2");
        Files.copy(ours.resolveSibling(WhisperTokenizer.FILE_NAME), theirs.resolveSibling(WhisperTokenizer.FILE_NAME));
        Files.delete(ours);
        // When the model loads the torch-written file through the option
        try (OmniModel model = OmniModel.load(dir, fast().withSpeechEncoder(theirs.toString()))) {
            // Then its transcript equals the shards layout's
            assertThat(transcript(model)).containsExactly(transcript(TinyModels.model()));
        }
    }
}
