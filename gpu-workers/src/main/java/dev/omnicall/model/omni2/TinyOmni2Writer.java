package dev.omnicall.model.omni2;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.omnicall.model.LlamaModel;
import dev.omnicall.model.OmniTokenizer;
import dev.omnicall.model.TinyBpeTokenizer;
import dev.omnicall.model.TinySharedBlocks;
import dev.omnicall.model.config.Json;
import dev.omnicall.model.io.DType;
import dev.omnicall.model.io.HalfFloats;
import dev.omnicall.model.io.TensorInfo;
import dev.omnicall.model.io.SafeTensorsFile;
import dev.omnicall.model.io.SafeTensorsWriter;
import dev.omnicall.model.io.ShardedCheckpoint;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
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
 * {@code <|im_start|>}, {@code <|im_end|>}, {@code tts_tokenizer/} (the same with {@code <sep>} and the unit
 * tokens added, {@code eos_token} {@code <|endoftext|>}: {@link TtsTokenizerLayout}), and the decoder directory {@code cosy2_decoder/} (flow.pt, hift.pt, the
 * sizes file and a cached speaker x-vector). The blocks LLaMA-Omni shares come from
 * {@link TinySharedBlocks}; the decoder files from {@link TinyFlowWriter} and
 * {@link TinyHiftWriter}. Deterministic for a seed.
 *
 * <p>Tiny vocabulary, laid out as the published one: text ids 0..258 (256 bytes, then the three specials), the
 * LLM's vocab_size 259; TTS {@code <sep>} 259, units 260..323 (64 = the tiny flow's unit vocabulary), end 256.
 *
 * <p>The LLM's random weights are shaped so that a reply is a few letters that depend on the caller's audio and then
 * {@code <|im_end|>} ({@link #REPLY_LEVELS}, {@link #shape}); the other parts are plain random.
 */
public final class TinyOmni2Writer {
    public static final List<String> SPECIALS = List.of("<|endoftext|>", "<|im_start|>", "<|im_end|>");
    public static final int END_OF_TEXT = 256;
    public static final int IM_END = 258;
    public static final int TEXT_VOCAB = 256 + SPECIALS.size();
    public static final int UNITS = TinyFlowWriter.ENCODER.vocabSize();
    public static final int TTS_VOCAB = TEXT_VOCAB + 1 + UNITS;
    private static final String COMPLETE_MARKER = ".tiny-omni2-complete";
    /** The marker's second line; a complete directory of another format is replaced. 2 = the shaped replies. */
    private static final String FORMAT = "format=4 shaped-replies tts-tokenizer tts-end";
    /** The tiny tts_tokenizer's unit tokens (this writer's naming; the published strings are unverified). */
    public static final String UNIT_TOKEN = "<|s_%d|>";
    /**
     * The reply's letters, one group per step: the first reply token is one of {@code REPLY_LEVELS.get(0)}, the
     * second one of the next group, and so on; after the last group comes {@code <|im_end|>}. Which letter of a
     * group comes is decided by the context (the caller's speech), so the replies are words like "Ban", "Tox".
     */
    public static final List<String> REPLY_LEVELS = List.of("BDKT", "aeio", "nrsx");
    /** The hidden dimensions that carry the reply's step (no layer writes them). */
    private static final int STEP_DIM_X = 0;
    private static final int STEP_DIM_Y = 1;
    /** The hidden dimensions that carry what the caller said (only layer 0's head 0 writes them). */
    private static final int AUDIO_DIM_FROM = 2;
    private static final int AUDIO_DIM_TO = 10; // exclusive
    /** The dimension that marks a speech row (the adaptor's output bias), what layer 0's head 0 looks for. */
    private static final int SPEECH_FLAG_DIM = 10;
    private static final float SPEECH_FLAG = 20f;
    /** Head 0's output into the audio dims, amplified: the letter before then hardly moves the next choice. */
    private static final float AUDIO_GAIN = 30f;
    /** Head 0's query on its slowest rotary pair (RoPE barely turns it): how strongly it looks at speech rows. */
    private static final int SPEECH_QUERY_ROW = 7;
    private static final float SPEECH_QUERY = 5f;
    /** Angle between successive steps on the step plane, and the norms per step: ordinary tokens, letters, end. */
    private static final double STEP_ANGLE = Math.PI / 4;
    private static final float[] STEP_NORMS = {8f, 32f, 48f, 72f, 108f};
    /** Size of a letter's audio part: small next to what head 0 writes, so the letter before hardly matters. */
    private static final double LETTER_AUDIO = 0.1;
    /** The TTS LM's own dimensions (its width is 32): the unit mark, and what drives the end token's score. */
    private static final int TTS_UNIT_DIM = 30;
    private static final int TTS_END_DIM = 31;
    /** The unit mark on unit embeddings, and on fused rows (set by the fusion's gate and input_proj biases). */
    private static final float TTS_UNIT_MARK = 1f;
    private static final float TTS_FUSED_MARK = -1f;
    /** The gate's bias on the mark dim: sigmoid(12) = 1 - 6e-6, the fused row takes the projection's mark. */
    private static final float TTS_GATE_BIAS = 12f;
    /** Layer 0 head 0's output into the end dim per unit of (mean mark - fraction), and the end token's weight. */
    private static final float TTS_END_GAIN = 100f;
    private static final float TTS_END_WEIGHT = 4f;
    /**
     * The default end fraction. Measured on five caller audios (seed 20240906): the 4-token reply's final write ends
     * after 13-22 units, no mid-reply write ends; a reply of 14 tokens ends after 47-70 units, of 30 after 87-139.
     */
    public static final double TTS_END_FRACTION = 0.5;

    /**
     * How the tiny checkpoint differs from the default (the published 0.5B: tied LLM head).
     *
     * @param ttsEndFraction the TTS LM writes its end token once about this share of its context is units
     *     ({@link #shapeTts}); 0: it never does, every final write runs to its cap
     */
    public record Options(boolean tiedLlmHead, String streamParams, double ttsEndFraction) {
        public static Options defaults() {
            return new Options(true, "(3,10)", TTS_END_FRACTION);
        }

        public Options withTiedLlmHead(boolean tied) {
            return new Options(tied, streamParams, ttsEndFraction);
        }

        public Options withTtsEndFraction(double fraction) {
            return new Options(tiedLlmHead, streamParams, fraction);
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
            if (Files.isRegularFile(marker)) {
                // written by an older version of this writer (or another seed): replace it
                Path old = dir.resolveSibling(dir.getFileName() + ".old-" + System.nanoTime());
                try {
                    Files.move(dir, old, StandardCopyOption.ATOMIC_MOVE);
                    deleteTree(old);
                } catch (IOException movedByAnother) {
                    if (Files.isRegularFile(marker) && Files.readString(marker).equals(stamp)) {
                        return dir;
                    }
                }
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
        TinySharedBlocks blocks = new TinySharedBlocks(seed);
        Map<String, SafeTensorsWriter> shards = new LinkedHashMap<>();
        shards.put("model-00001-of-00003.safetensors",
                shape(blocks.speechEncoderAndAdaptor(c.speechBlocks()), dir, c, seed));
        SafeTensorsWriter llm = new SafeTensorsWriter();
        blocks.transformer(llm, c.llmSpec());
        shards.put("model-00002-of-00003.safetensors", shape(llm, dir, c, seed));
        shards.put("model-00003-of-00003.safetensors", shapeTts(speechGenerator(blocks, c), dir, c,
                o.ttsEndFraction()));
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
        Files.writeString(dir.resolve(OmniTokenizer.FILE_NAME), TinyBpeTokenizer.json(TEXT_VOCAB, SPECIALS,
                null));
        writeTtsTokenizer(dir.resolve(TtsTokenizerLayout.DIR_NAME), TEXT_VOCAB, TEXT_VOCAB + 1, UNITS);
        writeDecoder(dir.resolve(Cosy2Decoder.DIR_NAME), seed, blocks);
    }

    /**
     * {@code tts_tokenizer/} as the reference reads it: tokenizer.json (the tiny byte-level text vocabulary, then
     * {@code <sep>} at {@code sepId} and unit u as {@link #UNIT_TOKEN} at {@code unitBase + u}, non-special added
     * tokens) and tokenizer_config.json ({@code eos_token} {@code <|endoftext|>}). The ids are parameters so tests
     * can lay them out otherwise than the published rule.
     */
    public static void writeTtsTokenizer(Path dir, int sepId, int unitBase, int units) throws IOException {
        Files.createDirectories(dir);
        JsonObject tokenizer = JsonParser.parseString(TinyBpeTokenizer.json(TEXT_VOCAB, SPECIALS, null))
                .getAsJsonObject();
        JsonArray added = tokenizer.getAsJsonArray("added_tokens");
        added.add(addedToken(sepId, TtsTokenizerLayout.SEP_TOKEN, true));
        for (int u = 0; u < units; u++) {
            added.add(addedToken(unitBase + u, String.format(UNIT_TOKEN, u), false));
        }
        Files.writeString(dir.resolve(TtsTokenizerLayout.TOKENIZER_JSON), tokenizer.toString());
        JsonObject config = new JsonObject();
        config.addProperty("tokenizer_class", "Qwen2Tokenizer");
        config.addProperty("eos_token", SPECIALS.get(0));
        config.addProperty("pad_token", SPECIALS.get(0));
        Files.writeString(dir.resolve(TtsTokenizerLayout.TOKENIZER_CONFIG), config.toString());
    }

    private static JsonObject addedToken(int id, String content, boolean special) {
        JsonObject t = new JsonObject();
        t.addProperty("id", id);
        t.addProperty("content", content);
        t.addProperty("single_word", false);
        t.addProperty("lstrip", false);
        t.addProperty("rstrip", false);
        t.addProperty("normalized", false);
        t.addProperty("special", special);
        return t;
    }

    /**
     * The random weights made to give short replies that vary with the audio and end. With tied embeddings and weak
     * random layers the last prompt token ("\n") always wins again (its own embedding dominates the logits), and the
     * caller's speech moves the last state by well under 1 % (a hundred template positions, a few speech rows), so a
     * plain random tiny Qwen2 answers "\n" to everything. Two mechanisms instead, each on hidden dimensions of its
     * own:
     * <ul>
     * <li>the step plane (dims 0, 1): ordinary tokens lie on it at angle 0, the letters of group i at angle
     * (i+1)·45°, {@code <|im_end|>} after the last group, each step's norm 1.5 times the last (the first letters' 4
     * times the ordinary tokens'). No layer writes the plane (those rows of o_proj and down_proj are zero) and the
     * final norm's weight is 1 there, so the logits from a token at step i favour step i+1 over itself (1.5·cos 45° =
     * 1.06 of its own score) and over everything else: every reply is one letter per group, then the end;</li>
     * <li>the audio dims (2..9): the adaptor marks speech rows (+50 on dim 10); layer 0's head 0 asks only for that
     * mark (its query a bias on its slowest rotary pair, its key that dim alone), so it averages the speech rows'
     * values (the mark kept out of them), and only that head writes dims 2..9 (every other head's and every MLP's
     * rows there are zero; tokens are zero there but for the letters' small audio parts). The letters of a group
     * share their plane coordinates, so which one wins is decided by their audio parts against what head 0 wrote:
     * the caller's speech.</li>
     * </ul>
     */
    private static SafeTensorsWriter shape(SafeTensorsWriter drawn, Path dir, Omni2Config c, long seed)
            throws IOException {
        Path scratch = dir.resolve(".drawn.safetensors");
        drawn.write(scratch);
        SafeTensorsWriter out = new SafeTensorsWriter();
        int d = c.hiddenSize();
        int headDim = d / c.numAttentionHeads();
        String embedding = "model.embed_tokens.weight";
        try (SafeTensorsFile f = SafeTensorsFile.open(scratch); FileChannel ch = FileChannel.open(scratch)) {
            for (String name : f.names()) {
                TensorInfo info = f.info(name);
                float[] v = halves(ch, info);
                int in = info.shape().length == 2 ? (int) info.shape()[1] : 1;
                boolean layer0 = name.startsWith("model.layers.0.");
                if (name.equals(embedding)) {
                    shapeEmbedding(v, d, seed);
                } else if (name.equals("model.speech_projector.linear2.bias")) {
                    v[SPEECH_FLAG_DIM] += SPEECH_FLAG;
                } else if (name.endsWith(".self_attn.o_proj.weight")) {
                    zeroRows(v, in, STEP_DIM_X, STEP_DIM_Y + 1);
                    for (int r = AUDIO_DIM_FROM; r < AUDIO_DIM_TO; r++) {
                        // only layer 0's head 0 (input columns 0..headDim-1) writes the audio dims
                        java.util.Arrays.fill(v, r * in + (layer0 ? headDim : 0), (r + 1) * in, 0f);
                        for (int j = 0; layer0 && j < headDim; j++) {
                            v[r * in + j] *= AUDIO_GAIN;
                        }
                    }
                } else if (name.endsWith(".mlp.down_proj.weight")) {
                    zeroRows(v, in, STEP_DIM_X, AUDIO_DIM_TO);
                } else if (layer0 && name.endsWith(".self_attn.q_proj.weight")) {
                    zeroRows(v, in, 0, headDim); // head 0's query: its bias only
                } else if (layer0 && name.endsWith(".self_attn.q_proj.bias")) {
                    java.util.Arrays.fill(v, 0, headDim, 0f);
                    v[SPEECH_QUERY_ROW] = SPEECH_QUERY;
                } else if (layer0 && name.endsWith(".self_attn.k_proj.weight")) {
                    zeroRows(v, in, 0, headDim); // key head 0: the speech mark alone
                    v[SPEECH_QUERY_ROW * in + SPEECH_FLAG_DIM] = 1f;
                } else if (layer0 && (name.endsWith(".self_attn.k_proj.bias")
                        || name.endsWith(".self_attn.v_proj.bias"))) {
                    java.util.Arrays.fill(v, 0, headDim, 0f);
                } else if (layer0 && name.endsWith(".self_attn.v_proj.weight")) {
                    for (int r = 0; r < headDim; r++) {
                        v[r * in + SPEECH_FLAG_DIM] = 0f; // the values carry the speech, not the mark
                    }
                } else if (name.equals("model.norm.weight")) {
                    v[STEP_DIM_X] = 1f;
                    v[STEP_DIM_Y] = 1f;
                } else if (name.equals("lm_head.weight")) {
                    continue; // untied: written below as a copy of the shaped embedding
                }
                out.putFloats(name, DType.F16, info.shape(), v);
                if (name.equals(embedding) && !c.llmSpec().tieWordEmbeddings()) {
                    out.putFloats("lm_head.weight", DType.F16, info.shape(), v);
                }
            }
        } finally {
            Files.deleteIfExists(scratch);
        }
        return out;
    }

    /**
     * The TTS LM's random weights made to write its end token once enough of its context is units, so that a tiny
     * reply's final write ends on its own (and a small cap still cuts it): a plain random TTS LM scores the end
     * like any unit and, with 64 units to beat, practically never writes it. On two dimensions of its own:
     * <ul>
     * <li>the unit mark (dim 30): +1 on every unit's embedding, -1 on every fused row (input_proj.2's bias there,
     * its weights zero, the gate's bias saturated so the fused row takes it), 0 on {@code <sep>} and text;</li>
     * <li>layer 0's head 0 attends evenly to the whole context (its query is zero) and its first value channel is
     * the normalised mark minus {@code fraction}; only o_proj's entry for that channel writes the end dim (×100), no
     * other head or MLP writes dims 30, 31, and the final norm keeps dim 31 alone of the two. The end token's
     * embedding (tied to the head) is that dim alone (×4), so its score follows the context's mean mark: well below
     * any unit's while the mean is under {@code fraction}, above once it is past.</li>
     * </ul>
     * In a mid-reply write the mean stays near or under (10 - 3)/13 = 0.54 (R = 3, W = 10) and the end needs a
     * margin over the fraction to beat the best unit; in the final write the mean climbs with every unit, so the end
     * comes after a number of units that grows with the reply ({@link #TTS_END_FRACTION}). {@code fraction} 0 leaves
     * the TTS LM plain.
     */
    private static SafeTensorsWriter shapeTts(SafeTensorsWriter drawn, Path dir, Omni2Config c, double fraction)
            throws IOException {
        if (fraction == 0) {
            return drawn;
        }
        SpeechGeneratorConfig g = c.speechGenerator();
        int d = g.hiddenSize();
        if (d <= TTS_END_DIM) {
            throw new IllegalStateException("the tiny TTS LM is " + d + " wide; the end shaping needs dim " + TTS_END_DIM);
        }
        int headDim = d / g.numAttentionHeads();
        TtsVocabulary vocabulary = c.ttsVocabulary();
        String lm = "speech_generator.model.model.";
        Path scratch = dir.resolve(".drawn-tts.safetensors");
        drawn.write(scratch);
        SafeTensorsWriter out = new SafeTensorsWriter();
        try (SafeTensorsFile f = SafeTensorsFile.open(scratch); FileChannel ch = FileChannel.open(scratch)) {
            for (String name : f.names()) {
                TensorInfo info = f.info(name);
                float[] v = halves(ch, info);
                int in = info.shape().length == 2 ? (int) info.shape()[1] : 1;
                if (name.equals(lm + "embed_tokens.weight")) {
                    for (int t = 0; t < v.length / d; t++) {
                        v[t * d + TTS_UNIT_DIM] = vocabulary.isUnit(t) ? TTS_UNIT_MARK : 0f;
                        v[t * d + TTS_END_DIM] = 0f;
                    }
                    java.util.Arrays.fill(v, vocabulary.endId() * d, (vocabulary.endId() + 1) * d, 0f);
                    v[vocabulary.endId() * d + TTS_END_DIM] = TTS_END_WEIGHT;
                } else if (name.equals(GatedFusion.PREFIX + "input_proj.2.weight")) {
                    zeroRows(v, in, TTS_UNIT_DIM, TTS_END_DIM + 1);
                } else if (name.equals(GatedFusion.PREFIX + "input_proj.2.bias")) {
                    v[TTS_UNIT_DIM] = TTS_FUSED_MARK;
                    v[TTS_END_DIM] = 0f;
                } else if (name.equals(GatedFusion.PREFIX + "gate.0.weight")) {
                    zeroRows(v, in, TTS_UNIT_DIM, TTS_END_DIM + 1);
                } else if (name.equals(GatedFusion.PREFIX + "gate.0.bias")) {
                    v[TTS_UNIT_DIM] = TTS_GATE_BIAS;
                    v[TTS_END_DIM] = TTS_GATE_BIAS;
                } else if (name.endsWith(".mlp.down_proj.weight")) {
                    zeroRows(v, in, TTS_UNIT_DIM, TTS_END_DIM + 1);
                } else if (name.endsWith(".self_attn.o_proj.weight")) {
                    zeroRows(v, in, TTS_UNIT_DIM, TTS_END_DIM + 1);
                    if (name.equals(lm + "layers.0.self_attn.o_proj.weight")) {
                        v[TTS_END_DIM * in] = TTS_END_GAIN; // head 0, value channel 0
                    }
                } else if (name.equals(lm + "layers.0.self_attn.q_proj.weight")) {
                    zeroRows(v, in, 0, headDim); // head 0 attends evenly
                } else if (name.equals(lm + "layers.0.self_attn.q_proj.bias")) {
                    java.util.Arrays.fill(v, 0, headDim, 0f);
                } else if (name.equals(lm + "layers.0.self_attn.v_proj.weight")) {
                    zeroRows(v, in, 0, 1);
                    v[TTS_UNIT_DIM] = 1f; // value channel 0 = the normalised mark
                } else if (name.equals(lm + "layers.0.self_attn.v_proj.bias")) {
                    v[0] = (float) -fraction;
                } else if (name.equals(lm + "layers.0.input_layernorm.weight")) {
                    v[TTS_UNIT_DIM] = 1f;
                } else if (name.equals(lm + "norm.weight")) {
                    v[TTS_UNIT_DIM] = 0f;
                    v[TTS_END_DIM] = 1f;
                }
                out.putFloats(name, DType.F16, info.shape(), v);
            }
        } finally {
            Files.deleteIfExists(scratch);
        }
        return out;
    }

    private static void zeroRows(float[] v, int in, int from, int to) {
        java.util.Arrays.fill(v, from * in, to * in, 0f);
    }

    /** Puts every token on the step plane and the letters' audio parts in (see {@link #shape}); v is [vocab, d]. */
    private static void shapeEmbedding(float[] v, int d, long seed) {
        int vocab = v.length / d;
        int[] step = new int[vocab]; // 0: ordinary
        for (int g = 0; g < REPLY_LEVELS.size(); g++) {
            for (char ch : REPLY_LEVELS.get(g).toCharArray()) {
                step[ch] = g + 1;
            }
        }
        step[IM_END] = REPLY_LEVELS.size() + 1;
        java.util.SplittableRandom r = new java.util.SplittableRandom(seed ^ 0x7E11E75L);
        for (int t = 0; t < vocab; t++) {
            for (int j = AUDIO_DIM_FROM; j < AUDIO_DIM_TO; j++) {
                v[t * d + j] = 0f;
            }
            if (step[t] > 0) {
                // a letter or the end: the plane and (letters) the audio part only
                java.util.Arrays.fill(v, t * d, (t + 1) * d, 0f);
                if (step[t] <= REPLY_LEVELS.size()) {
                    for (int j = AUDIO_DIM_FROM; j < AUDIO_DIM_TO; j++) {
                        v[t * d + j] = (float) (LETTER_AUDIO * r.nextGaussian());
                    }
                }
            }
            double angle = step[t] * STEP_ANGLE;
            v[t * d + STEP_DIM_X] = (float) (STEP_NORMS[step[t]] * Math.cos(angle));
            v[t * d + STEP_DIM_Y] = (float) (STEP_NORMS[step[t]] * Math.sin(angle));
        }
    }

    /** A tensor's fp16 values as floats. */
    private static float[] halves(FileChannel ch, TensorInfo info) throws IOException {
        if (info.dtype() != DType.F16) {
            throw new IllegalStateException(info.name() + " is " + info.dtype() + ", expected F16");
        }
        ByteBuffer b = ByteBuffer.allocate((int) info.length()).order(ByteOrder.LITTLE_ENDIAN);
        while (b.hasRemaining()) {
            if (ch.read(b, info.offset() + b.position()) < 0) {
                throw new IOException("short read of " + info.name());
            }
        }
        b.flip();
        float[] v = new float[(int) (info.length() / 2)];
        for (int i = 0; i < v.length; i++) {
            v[i] = HalfFloats.halfToFloat(b.getShort());
        }
        return v;
    }

    private static void deleteTree(Path root) throws IOException {
        try (var paths = Files.walk(root)) {
            List<Path> all = new java.util.ArrayList<>(paths.toList());
            java.util.Collections.reverse(all);
            for (Path p : all) {
                Files.deleteIfExists(p);
            }
        }
    }

    /** input_proj, gate and the TTS Qwen2 under {@code speech_generator.}. */
    private static SafeTensorsWriter speechGenerator(TinySharedBlocks blocks, Omni2Config c) {
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
    static void writeDecoder(Path dir, long seed, TinySharedBlocks blocks) throws IOException {
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
