package dev.omnicall.model.omni2;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.omnicall.model.LlamaModel;
import dev.omnicall.model.OmniTokenizer;
import dev.omnicall.model.TinyCheckpointWriter;
import dev.omnicall.model.config.Json;
import dev.omnicall.model.io.DType;
import dev.omnicall.model.io.SafeTensorsFile;
import dev.omnicall.model.io.SafeTensorsWriter;
import dev.omnicall.model.io.ShardedCheckpoint;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a small random LLaMA-Omni2 checkpoint in the published layout (CHECKPOINT-OMNI2.md): config.json
 * ({@code omni2_speech2s_qwen2}, {@code stream_params} "(3,10)", the {@code speech_generator} object),
 * generation_config.json (the stop ids), three fp16 safetensors shards with model.safetensors.index.json (the
 * Whisper encoder and {@code model.speech_projector.*}; the Qwen2 LLM with q/k/v biases; {@code speech_generator.*}:
 * input_proj, gate and the TTS Qwen2), a byte-level tokenizer.json with Qwen's {@code <|endoftext|>},
 * {@code <|im_start|>}, {@code <|im_end|>}, and the decoder directory {@code cosy2_decoder/} (flow.pt, hift.pt, the
 * sizes file and a cached speaker x-vector). The blocks LLaMA-Omni shares come from
 * {@link TinyCheckpointWriter.SharedBlocks}; the decoder files from {@link TinyFlowWriter} and
 * {@link TinyHiftWriter}. Deterministic for a seed.
 *
 * <p>Tiny vocabulary, laid out as the published one: text ids 0..258 (256 bytes, then the three specials), the
 * LLM's vocab_size 259; TTS {@code <sep>} 259, units 260..323 (64 = the tiny flow's unit vocabulary), end 256.
 */
public final class TinyOmni2Writer {
    public static final List<String> SPECIALS = List.of("<|endoftext|>", "<|im_start|>", "<|im_end|>");
    public static final int END_OF_TEXT = 256;
    public static final int IM_END = 258;
    public static final int TEXT_VOCAB = 256 + SPECIALS.size();
    public static final int UNITS = TinyFlowWriter.ENCODER.vocabSize();
    public static final int TTS_VOCAB = TEXT_VOCAB + 1 + UNITS;
    private static final String COMPLETE_MARKER = ".tiny-omni2-complete";
    private static final String FORMAT = "format=1";

    /** How the tiny checkpoint differs from the default (the published 0.5B: tied LLM head). */
    public record Options(boolean tiedLlmHead, String streamParams) {
        public static Options defaults() {
            return new Options(true, "(3,10)");
        }

        public Options withTiedLlmHead(boolean tied) {
            return new Options(tied, streamParams);
        }
    }

    private TinyOmni2Writer() {
    }

    /** The tiny config.json as a JSON object (names as published). */
    public static JsonObject configJson(Options o) {
        JsonObject c = new JsonObject();
        c.addProperty("model_type", "omni2_speech2s_qwen2");
        c.addProperty("architectures", "Omni2Speech2SQwen2ForCausalLM");
        c.addProperty("hidden_size", 64);
        c.addProperty("intermediate_size", 128);
        c.addProperty("num_attention_heads", 4);
        c.addProperty("num_key_value_heads", 2);
        c.addProperty("num_hidden_layers", 2);
        c.addProperty("rms_norm_eps", 1e-6);
        c.addProperty("rope_theta", 1e6);
        c.addProperty("vocab_size", TEXT_VOCAB);
        c.addProperty("max_position_embeddings", 32768);
        c.addProperty("bos_token_id", END_OF_TEXT);
        c.addProperty("eos_token_id", IM_END);
        c.addProperty("tie_word_embeddings", o.tiedLlmHead());
        c.addProperty("torch_dtype", "bfloat16");
        c.addProperty("use_sliding_window", false);
        c.addProperty("speech_encoder_type", "whisper");
        c.addProperty("speech_encoder_ds_rate", 5);
        c.addProperty("speech_encoder_hidden_size", 64);
        c.addProperty("speech_encoder_num_heads", 4);
        c.addProperty("speech_encoder_num_layers", 2);
        c.addProperty("speech_projector_type", "linear");
        c.addProperty("speech_projector_hidden_size", 96);
        c.addProperty("unit_vocab_size", UNITS);
        c.addProperty("stream_params", o.streamParams());
        c.addProperty("tokenizer_model_max_length", 4096);
        JsonObject sg = new JsonObject();
        sg.addProperty("model_type", "qwen2");
        sg.addProperty("hidden_size", 32);
        sg.addProperty("intermediate_size", 48);
        sg.addProperty("num_attention_heads", 4);
        sg.addProperty("num_key_value_heads", 2);
        sg.addProperty("num_hidden_layers", 2);
        sg.addProperty("rms_norm_eps", 1e-6);
        sg.addProperty("rope_theta", 1e6);
        sg.addProperty("vocab_size", TTS_VOCAB);
        sg.addProperty("max_position_embeddings", 32768);
        sg.addProperty("tie_word_embeddings", true);
        sg.addProperty("bos_token_id", END_OF_TEXT);
        sg.addProperty("eos_token_id", END_OF_TEXT);
        sg.addProperty("hidden_act", "silu");
        c.add("speech_generator", sg);
        return c;
    }

    /** Writes the tiny checkpoint into {@code dir} unless a complete one of this seed is there; returns dir. */
    public static Path writeIfAbsent(Path dir, long seed) {
        Path marker = dir.resolve(COMPLETE_MARKER);
        String stamp = "seed=" + seed + "\n" + FORMAT + "\n";
        try {
            if (Files.isRegularFile(marker) && Files.readString(marker).equals(stamp)) {
                return dir;
            }
            if (Files.exists(dir)) {
                throw new IOException(dir + " exists but holds no complete tiny LLaMA-Omni2 checkpoint of seed " + seed);
            }
            Files.createDirectories(dir.toAbsolutePath().getParent());
            Path staging = Files.createTempDirectory(dir.toAbsolutePath().getParent(), ".tiny-omni2-");
            write(staging, seed, Options.defaults());
            Files.writeString(staging.resolve(COMPLETE_MARKER), stamp);
            try {
                Files.move(staging, dir, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException raced) {
                if (!Files.isRegularFile(marker)) {
                    throw raced;
                }
            }
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the tiny LLaMA-Omni2 checkpoint to " + dir, e);
        }
    }

    /** Writes the tiny checkpoint into an empty or new {@code dir}. */
    public static void write(Path dir, long seed, Options o) throws IOException {
        Files.createDirectories(dir);
        JsonObject json = configJson(o);
        Files.writeString(dir.resolve(Omni2Config.FILE_NAME), new GsonBuilder().setPrettyPrinting().create().toJson(json));
        Omni2Config c = Omni2Config.parse(json.toString());
        JsonObject generation = new JsonObject();
        JsonArray eos = new JsonArray();
        eos.add(IM_END);
        eos.add(END_OF_TEXT);
        generation.add("eos_token_id", eos);
        generation.addProperty("bos_token_id", END_OF_TEXT);
        generation.addProperty("do_sample", false);
        Files.writeString(dir.resolve(Omni2Model.GENERATION_CONFIG), generation.toString());
        // shard 1: speech encoder and adaptor; shard 2: LLM; shard 3: speech generator
        TinyCheckpointWriter.SharedBlocks blocks = new TinyCheckpointWriter.SharedBlocks(seed);
        Map<String, SafeTensorsWriter> shards = new LinkedHashMap<>();
        shards.put("model-00001-of-00003.safetensors", blocks.speechEncoderAndAdaptor(c.speechBlocks()));
        SafeTensorsWriter llm = new SafeTensorsWriter();
        blocks.transformer(llm, c.llmSpec());
        shards.put("model-00002-of-00003.safetensors", llm);
        shards.put("model-00003-of-00003.safetensors", speechGenerator(blocks, c));
        JsonObject weightMap = new JsonObject();
        long total = 0;
        for (Map.Entry<String, SafeTensorsWriter> e : shards.entrySet()) {
            e.getValue().metadata("format", "pt");
            e.getValue().write(dir.resolve(e.getKey()));
            total += e.getValue().dataBytes();
            try (SafeTensorsFile written = SafeTensorsFile.open(dir.resolve(e.getKey()))) {
                written.names().forEach(name -> weightMap.addProperty(name, e.getKey()));
            }
        }
        JsonObject index = JsonParser.parseString("{\"metadata\":{\"total_size\":" + total + "}}").getAsJsonObject();
        index.add("weight_map", weightMap);
        Files.writeString(dir.resolve(ShardedCheckpoint.INDEX_FILE), index.toString());
        Files.writeString(dir.resolve(OmniTokenizer.FILE_NAME), TinyCheckpointWriter.tokenizerJson(TEXT_VOCAB, SPECIALS,
                null));
        writeDecoder(dir.resolve(Cosy2Decoder.DIR_NAME), seed, blocks);
    }

    /** input_proj, gate and the TTS Qwen2 under {@code speech_generator.}. */
    private static SafeTensorsWriter speechGenerator(TinyCheckpointWriter.SharedBlocks blocks, Omni2Config c) {
        SafeTensorsWriter w = new SafeTensorsWriter();
        int h = c.hiddenSize();
        int d = c.speechGenerator().hiddenSize();
        blocks.linearWithBias(w, GatedFusion.PREFIX + "input_proj.0", 2 * h, h);
        blocks.linearWithBias(w, GatedFusion.PREFIX + "input_proj.2", d, 2 * h);
        blocks.linearWithBias(w, GatedFusion.PREFIX + "gate.0", d, 2 * d);
        LlamaModel.Spec spec = c.speechGenerator().spec();
        blocks.transformer(w, spec);
        return w;
    }

    /** cosy2_decoder/: flow.pt, hift.pt, the sizes file and the cached x-vector. */
    static void writeDecoder(Path dir, long seed, TinyCheckpointWriter.SharedBlocks blocks) throws IOException {
        Files.createDirectories(dir);
        TinyFlowWriter.write(dir.resolve(Cosy2Decoder.FLOW_FILE), seed);
        TinyHiftWriter.write(dir.resolve(Cosy2Decoder.HIFT_FILE), seed);
        Files.writeString(dir.resolve(Cosy2Decoder.SIZES_FILE),
                Json.write(new Cosy2Decoder.Sizes(TinyFlowWriter.ENCODER, TinyFlowWriter.ESTIMATOR)));
        new SafeTensorsWriter().putFloats(Cosy2Decoder.XVECTOR_TENSOR, DType.F32,
                new long[] {TinyFlowWriter.XVECTOR}, blocks.gaussian(TinyFlowWriter.XVECTOR, 1.0))
                .write(dir.resolve(Cosy2Decoder.XVECTOR_FILE));
    }
}
