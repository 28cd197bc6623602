package dev.omnicall.model.omni2;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.omnicall.model.ModelOptions;
import dev.omnicall.model.TinyModels;
import dev.omnicall.model.io.CheckpointException;
import dev.omnicall.model.WhisperEncoder;
import dev.omnicall.model.io.DType;
import dev.omnicall.model.io.SafeTensorsFile;
import dev.omnicall.model.io.SafeTensorsWriter;
import dev.omnicall.model.io.ShardedCheckpoint;
import dev.omnicall.model.io.TorchCheckpointWriter;
import dev.omnicall.model.io.WhisperCheckpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The LLaMA-Omni2 loader on tiny checkpoints that {@link TinyOmni2Writer} writes in the published layout: every
 * part found by its published name, the tied and untied LLM head, the stop ids of generation_config.json, and one
 * clear error per broken part (a misshaped tensor names itself and both shapes).
 */
class Omni2ModelLoadTest {
    static final long SEED = 20240906L;
    private static final ModelOptions FAST = ModelOptions.defaults().withPaddedSeconds(0);

    @TempDir
    Path tmp;

    private Path tiny(TinyOmni2Writer.Options o) throws Exception {
        Path dir = tmp.resolve("omni2");
        TinyOmni2Writer.write(dir, SEED, o);
        return dir;
    }

    @Test
    void shouldLoadEveryPartOfThePublishedLayoutWhenTheCheckpointIsTiny() throws Exception {
        // Given the tiny checkpoint: shards with Qwen2 names, no lm_head (tied), generation_config.json, cosy2_decoder
        Path dir = tiny(TinyOmni2Writer.Options.defaults());
        try (ShardedCheckpoint shards = ShardedCheckpoint.open(dir)) {
            assertThat(shards.names()).contains("model.layers.0.self_attn.q_proj.bias",
                    "model.speech_projector.linear1.weight", "model.speech_encoder.conv1.weight",
                    "speech_generator.input_proj.0.weight", "speech_generator.gate.0.bias",
                    "speech_generator.model.model.layers.1.self_attn.v_proj.bias")
                    .doesNotContain("lm_head.weight", "speech_generator.model.lm_head.weight");
        }
        // When it loads
        try (Omni2Model model = Omni2Model.load(dir, FAST)) {
            // Then the LLM is a Qwen2 with q/k/v biases and its head tied to the embeddings
            assertThat(model.llm().spec().attentionBias()).isTrue();
            assertThat(model.llm().spec().tieWordEmbeddings()).isTrue();
            assertThat(model.llm().spec().vocabSize()).isEqualTo(TinyOmni2Writer.TEXT_VOCAB);
            // And the stop ids are config.json's and generation_config.json's
            assertThat(model.stopIds()).isEqualTo(Set.of(TinyOmni2Writer.IM_END, TinyOmni2Writer.END_OF_TEXT));
            // And the TTS vocabulary follows the published rule: <sep> before the units, end = the TTS eos
            TtsVocabulary v = model.tts().vocabulary();
            assertThat(v.sepId()).isEqualTo(TinyOmni2Writer.TEXT_VOCAB);
            assertThat(v.unitBase()).isEqualTo(TinyOmni2Writer.TEXT_VOCAB + 1);
            assertThat(v.unitCount()).isEqualTo(TinyOmni2Writer.UNITS);
            assertThat(v.endId()).isEqualTo(TinyOmni2Writer.END_OF_TEXT);
            assertThat(model.config().schedule(Omni2Config.FINAL_TTS_CAP)).isEqualTo(new TtsSchedule(3, 10, 1024));
            // And the decoder directory gives 24 kHz with the cached 192-d x-vector
            assertThat(model.decoder().sampleRate()).isEqualTo(24000);
            assertThat(model.decoder().xvector()).hasSize(TinyFlowWriter.XVECTOR);
            // And the Qwen chat template tokenizes with its specials as single ids
            long[] ids = model.tokenizer().encode("<|im_start|>user\n<|im_end|>");
            assertThat(ids[0]).isEqualTo(257);
            assertThat(ids[ids.length - 1]).isEqualTo(TinyOmni2Writer.IM_END);
        }
    }

    @Test
    void shouldReadLmHeadWhenTheLlmIsNotTied() throws Exception {
        // Given a checkpoint written untied (lm_head.weight in the shards, as the 7B)
        Path dir = tiny(TinyOmni2Writer.Options.defaults().withTiedLlmHead(false));
        try (ShardedCheckpoint shards = ShardedCheckpoint.open(dir)) {
            assertThat(shards.names()).contains("lm_head.weight");
        }
        try (Omni2Model model = Omni2Model.load(dir, FAST)) {
            assertThat(model.llm().spec().tieWordEmbeddings()).isFalse();
        }
        // And a config that says untied over tied shards fails naming the missing head
        Path tied = tmp.resolve("tied");
        TinyOmni2Writer.write(tied, SEED, TinyOmni2Writer.Options.defaults());
        String json = Files.readString(tied.resolve("config.json")).replaceFirst("\"tie_word_embeddings\": true",
                "\"tie_word_embeddings\": false");
        Files.writeString(tied.resolve("config.json"), json);
        assertThatThrownBy(() -> Omni2Model.load(tied, FAST)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("lm_head.weight");
    }

    @Test
    void shouldNameTheTensorAndBothShapesWhenATensorIsMisshaped() throws Exception {
        // Given a config.json whose projector is narrower than the tensors in the shards
        Path dir = tiny(TinyOmni2Writer.Options.defaults());
        String json = Files.readString(dir.resolve("config.json")).replace("\"speech_projector_hidden_size\": 96",
                "\"speech_projector_hidden_size\": 80");
        Files.writeString(dir.resolve("config.json"), json);
        // Then loading names the tensor and both shapes
        assertThatThrownBy(() -> Omni2Model.load(dir, FAST)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("model.speech_projector.linear1.weight").hasMessageContaining("[96, 320]")
                .hasMessageContaining("80");
    }

    @Test
    void shouldSayWhatIsMissingWhenTheDecoderDirectoryLacksAFile() throws Exception {
        Path dir = tiny(TinyOmni2Writer.Options.defaults());
        Path decoder = dir.resolve(Cosy2Decoder.DIR_NAME);
        // Given no x-vector: the error says campplus is not ported and which file to cache
        Files.delete(decoder.resolve(Cosy2Decoder.XVECTOR_FILE));
        assertThatThrownBy(() -> Omni2Model.load(dir, FAST)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining(Cosy2Decoder.XVECTOR_FILE).hasMessageContaining("campplus.onnx");
        // Given no flow.pt (hift.pt there): one error naming it and the directory
        Path flow = decoder.resolve(Cosy2Decoder.FLOW_FILE);
        Path flowAside = tmp.resolve("flow.pt.aside");
        Files.move(flow, flowAside);
        assertThatThrownBy(() -> Omni2Model.load(dir, FAST)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("no flow.pt").hasMessageContaining(decoder.toString());
        Files.move(flowAside, flow);
        // Given no hift.pt: one error naming both files
        Files.delete(decoder.resolve(Cosy2Decoder.HIFT_FILE));
        assertThatThrownBy(() -> Omni2Model.load(dir, FAST)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("no hift.pt").hasMessageContaining("flow.pt");
        // Given no decoder directory at all
        assertThatThrownBy(() -> Omni2Model.load(dir, FAST, tmp.resolve("nowhere")))
                .isInstanceOf(CheckpointException.class).hasMessageContaining("does not exist");
    }

    @Test
    void shouldLoadHiftWhenItUsesParametrizationWeightNormUnderGenerator() throws Exception {
        // Given hift.pt saved with the newer weight-norm names under a generator. prefix
        Path dir = tiny(TinyOmni2Writer.Options.defaults());
        Path hift = dir.resolve(Cosy2Decoder.DIR_NAME).resolve(Cosy2Decoder.HIFT_FILE);
        TinyHiftWriter.write(hift, SEED, TinyHiftWriter.WeightNormNaming.PARAMETRIZATIONS, "generator.");
        // Then it loads as the old-style file does
        try (Omni2Model model = Omni2Model.load(dir, FAST)) {
            assertThat(model.decoder().hift().config().baseChannels()).isEqualTo(TinyHiftWriter.BASE_CHANNELS);
        }
    }

    @Test
    void shouldEncodeTheSameSpeechWhenTheWhisperEncoderComesFromOpenaisFile() throws Exception {
        // Given the tiny checkpoint, and a copy whose Whisper encoder is not in the shards but in openai's
        // large-v3.pt layout (model_state_dict with encoder.* names, fp16, dims), named by config.json speech_encoder
        Path shards = tiny(TinyOmni2Writer.Options.defaults());
        Path file = tmp.resolve("openai");
        TinyOmni2Writer.write(file, SEED, TinyOmni2Writer.Options.defaults());
        String shard1 = "model-00001-of-00003.safetensors";
        TorchCheckpointWriter pt = new TorchCheckpointWriter();
        SafeTensorsWriter rest = new SafeTensorsWriter();
        Omni2Model a = Omni2Model.load(shards, FAST); // starts the engine the way the worker does
        try (NDManager m = a.manager().newSubManager(); SafeTensorsFile f = SafeTensorsFile.open(file.resolve(shard1))) {
            for (String name : new java.util.TreeSet<>(f.names())) {
                long[] shape = f.info(name).shape();
                float[] values = f.loadAsIs(m, name).toType(DataType.FLOAT32, false).toFloatArray();
                if (name.startsWith(WhisperEncoder.PREFIX)) {
                    pt.put(WhisperCheckpoint.ENCODER_PREFIX + name.substring(WhisperEncoder.PREFIX.length()), shape,
                            values, DType.F16);
                } else {
                    rest.putFloats(name, DType.F16, shape, values);
                }
            }
        }
        Files.createDirectories(file.resolve("speech_encoder"));
        Map<String, Object> dims = new java.util.LinkedHashMap<>();
        for (Object[] d : new Object[][] {{"n_mels", 128}, {"n_vocab", 51866}, {"n_audio_ctx", 1500},
                {"n_audio_state", 64}, {"n_audio_head", 4}, {"n_audio_layer", 2}, {"n_text_ctx", 448},
                {"n_text_state", 64}, {"n_text_head", 4}, {"n_text_layer", 2}}) {
            dims.put((String) d[0], d[1]);
        }
        pt.write(file.resolve("speech_encoder/large-v3.pt"), WhisperCheckpoint.STATE_KEY,
                Map.of(WhisperCheckpoint.DIMS_KEY, dims));
        rest.metadata("format", "pt");
        rest.write(file.resolve(shard1));
        Path index = file.resolve(ShardedCheckpoint.INDEX_FILE);
        JsonObject root = JsonParser.parseString(Files.readString(index)).getAsJsonObject();
        JsonObject map = root.getAsJsonObject("weight_map");
        new java.util.ArrayList<>(map.keySet()).stream().filter(n -> n.startsWith(WhisperEncoder.PREFIX))
                .forEach(map::remove);
        Files.writeString(index, root.toString());
        Path config = file.resolve(Omni2Config.FILE_NAME);
        JsonObject c = JsonParser.parseString(Files.readString(config)).getAsJsonObject();
        c.addProperty("speech_encoder", "speech_encoder/large-v3.pt");
        Files.writeString(config, c.toString());
        // When both load
        float[] audio = dev.omnicall.model.TinyModels.testAudio(0.8, 3);
        try (a; Omni2Model b = Omni2Model.load(file, FAST); ShardedCheckpoint bShards = ShardedCheckpoint.open(file)) {
            assertThat(bShards.names()).noneMatch(n -> n.startsWith(WhisperEncoder.PREFIX));
            // Then the speech rows handed to the LLM are the same, bit for bit (fp16 weights either way)
            float[] fromShards = a.encodeSpeech(audio).toFloatArray();
            float[] fromFile = b.encodeSpeech(audio).toFloatArray();
            assertThat(fromFile).hasSize(fromShards.length).containsExactly(fromShards);
        }
        // And a named file that is not there is one error naming it
        Files.delete(file.resolve("speech_encoder/large-v3.pt"));
        assertThatThrownBy(() -> Omni2Model.load(file, FAST)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("large-v3.pt").hasMessageContaining("does not exist");
    }

    @Test
    void shouldWriteTheSameFilesForTheSameSeedAndOtherWeightsForAnother() throws Exception {
        // Given the tiny checkpoint written twice with one seed and once with another
        Path a = tmp.resolve("a");
        Path b = tmp.resolve("b");
        Path other = tmp.resolve("other");
        TinyOmni2Writer.write(a, SEED, TinyOmni2Writer.Options.defaults());
        TinyOmni2Writer.write(b, SEED, TinyOmni2Writer.Options.defaults());
        TinyOmni2Writer.write(other, SEED + 1, TinyOmni2Writer.Options.defaults());
        // Then every file of the first is byte-equal in the second, tts_tokenizer and cosy2_decoder included
        java.util.List<Path> files;
        try (var walk = Files.walk(a)) {
            files = walk.filter(Files::isRegularFile).map(a::relativize).sorted().toList();
        }
        assertThat(files).contains(Path.of("config.json"), Path.of("tokenizer.json"),
                Path.of("tts_tokenizer", "tokenizer.json"), Path.of("cosy2_decoder", "flow.pt"),
                Path.of("cosy2_decoder", "hift.pt"), Path.of("model-00003-of-00003.safetensors"));
        try (var walk = Files.walk(b)) {
            assertThat(walk.filter(Files::isRegularFile).map(b::relativize).sorted().toList()).isEqualTo(files);
        }
        for (Path f : files) {
            assertThat(Files.readAllBytes(b.resolve(f))).as(f.toString()).isEqualTo(Files.readAllBytes(a.resolve(f)));
        }
        // And another seed draws other weights (same names and shapes)
        for (String shard : new String[] {"model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                "model-00003-of-00003.safetensors"}) {
            assertThat(Files.readAllBytes(other.resolve(shard))).as(shard).isNotEqualTo(Files.readAllBytes(a.resolve(shard)));
            assertThat(Files.size(other.resolve(shard))).as(shard).isEqualTo(Files.size(a.resolve(shard)));
        }
    }

    @Test
    void shouldRefuseAConfigOfAnotherFamily() {
        // Given LLaMA-Omni's tiny checkpoint
        Path omni = TinyModels.checkpointDir();
        // Then the Omni2 loader says which model_type it found
        assertThatThrownBy(() -> Omni2Model.load(omni, FAST)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("model_type 'omni_speech2s_llama'");
    }
}
