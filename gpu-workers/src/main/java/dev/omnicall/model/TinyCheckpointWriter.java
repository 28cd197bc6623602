package dev.omnicall.model;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import dev.omnicall.model.config.Json;
import dev.omnicall.model.config.RopeScaling;
import dev.omnicall.model.config.SpeechBlocksConfig;
import dev.omnicall.model.config.SpeechDecoderConfig;
import dev.omnicall.model.omni.CtcUnitDecoder;
import dev.omnicall.model.omni.OmniConfig;
import dev.omnicall.model.omni.VocoderConfig;
import dev.omnicall.model.io.DType;
import dev.omnicall.model.io.SafeTensorsWriter;
import dev.omnicall.model.io.ShardedCheckpoint;
import dev.omnicall.model.io.TorchCheckpointWriter;
import dev.omnicall.model.io.WhisperCheckpoint;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Writes a small random checkpoint in exactly the published layout: config.json, three fp16 safetensors
 * shards with model.safetensors.index.json, the same tensor names with tiny dimensions, a byte-level
 * BPE tokenizer.json carrying the Llama-3 special tokens, and a fairseq-style vocoder (torch.save zip
 * with weight-norm pairs under "generator", plus its config.json). For the caller transcriber it adds a
 * tiny Whisper text decoder (2 blocks, 64 wide, 4 heads, 448 positions; {@code model.speech_decoder.*} in the
 * shards with config.json {@code speech_decoder_num_layers}/{@code _num_heads}, or {@code decoder.*} in the
 * openai file) and a tiny tiktoken vocabulary ({@link TinyTiktoken}, {@code multilingual.tiktoken} beside
 * the decoder's weights). Deterministic for a seed; takes well under a second. Tests use it, and so does the
 * zero-setup run.
 */
public final class TinyCheckpointWriter {
    /** Special tokens after the 256 byte tokens, in this order. */
    public static final List<String> SPECIALS = List.of("<|begin_of_text|>", "<|end_of_text|>",
            "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>");
    public static final int BOS = 256;
    public static final int END_OF_TEXT = 257;
    public static final int EOM = 260;
    public static final int EOT = 261;
    private static final String COMPLETE_MARKER = ".tiny-checkpoint-complete";
    /**
     * The marker's second line: a complete directory with another (older) format is rewritten.
     * 2 = with the Whisper text decoder and its tiktoken vocabulary.
     */
    private static final String FORMAT = "format=2 whisper-decoder";
    /** Where {@link EncoderLayout#OPENAI_FILE} puts openai's Whisper file, relative to the checkpoint dir. */
    public static final String OPENAI_ENCODER_FILE = "speech_encoder/large-v3.pt";

    /** Where the Whisper encoder's weights go. */
    public enum EncoderLayout {
        /** Inside the safetensors shards under {@code model.speech_encoder.} (the default). */
        IN_SHARDS,
        /**
         * In a separate openai-format file ({@link #OPENAI_ENCODER_FILE}: {@code {"dims", "model_state_dict"}}
         * with {@code encoder.*} and the tiny Whisper decoder's {@code decoder.*} tensors, fp16) that config.json
         * {@code speech_encoder} names, as the reference code loads it, and the vocabulary beside it
         * ({@code speech_encoder/multilingual.tiktoken}); none of them in the shards.
         */
        OPENAI_FILE
    }

    /** Tiny dimensions; the tensor names and the wiring are those of the real model. */
    public static OmniConfig tinyConfig() {
        return new OmniConfig("omni_speech2s_llama", 64, 128, 4, 2, 2, 1e-5, 500000,
                RopeScaling.llama3(8, 1, 4, 8192), 264, 4096, BOS, List.of(END_OF_TEXT, EOM, EOT), false,
                "float16", "whisper", 5, 64, 4, 2, "linear", 96, "ctc", "(2,48,4,96)", 25, 100);
    }

    public static VocoderConfig tinyVocoderConfig() {
        return new VocoderConfig(List.of(5, 4, 4, 2, 2), List.of(11, 8, 8, 4, 4), 32, "1", List.of(3, 7, 11),
                List.of(List.of(1, 3, 5), List.of(1, 3, 5), List.of(1, 3, 5)), 16, 100, 16, 320, 16000,
                new VocoderConfig.DurationPredictorParams(16, 16, 3, 0.5));
    }

    private final SplittableRandom random;
    private final long seed;
    private final EncoderLayout layout;

    private TinyCheckpointWriter(long seed, EncoderLayout layout) {
        this.random = new SplittableRandom(seed);
        this.seed = seed;
        this.layout = layout;
    }

    /** Writes the tiny checkpoint into dir unless a complete one is already there; returns dir. */
    public static Path writeIfAbsent(Path dir, long seed) {
        return writeIfAbsent(dir, seed, EncoderLayout.IN_SHARDS);
    }

    /**
     * The same, with the encoder in the given layout; for one seed both layouts hold the same weights
     * (the Whisper decoder's come from a random stream of their own, the same in both layouts). A complete
     * directory written by an older version of this writer (its marker lacks the current format line, e.g.
     * one without the Whisper decoder) is replaced.
     */
    public static Path writeIfAbsent(Path dir, long seed, EncoderLayout layout) {
        Path marker = dir.resolve(COMPLETE_MARKER);
        String stamp = "seed=" + seed + "\n" + FORMAT + "\n";
        try {
            if (Files.isRegularFile(marker)) {
                if (Files.readString(marker).equals(stamp)) {
                    return dir;
                }
                // written by an older version of this writer (e.g. without the Whisper decoder): replace it
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
            Files.createDirectories(dir.toAbsolutePath().getParent());
            Path staging = Files.createTempDirectory(dir.toAbsolutePath().getParent(), ".tiny-");
            new TinyCheckpointWriter(seed, layout).write(staging, tinyConfig(), tinyVocoderConfig());
            Files.writeString(staging.resolve(COMPLETE_MARKER), stamp);
            try {
                Files.move(staging, dir, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException raced) {
                if (!Files.isRegularFile(marker)) {
                    throw raced;
                }
                deleteTree(staging);
            }
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the tiny checkpoint to " + dir, e);
        }
    }

    /** Writes a checkpoint with the given (small) dimensions into an empty or new dir. */
    public static void write(Path dir, long seed, OmniConfig config, VocoderConfig vocoder) throws IOException {
        write(dir, seed, config, vocoder, EncoderLayout.IN_SHARDS);
    }

    /** The same, with the encoder in the given layout. */
    public static void write(Path dir, long seed, OmniConfig config, VocoderConfig vocoder, EncoderLayout layout)
            throws IOException {
        new TinyCheckpointWriter(seed, layout).write(dir, config, vocoder);
    }

    private void write(Path dir, OmniConfig c, VocoderConfig vc) throws IOException {
        Files.createDirectories(dir);
        OmniConfig written = layout == EncoderLayout.OPENAI_FILE ? c.withSpeechEncoder(OPENAI_ENCODER_FILE) : c;
        JsonObject configJson = com.google.gson.JsonParser.parseString(Json.write(written)).getAsJsonObject();
        if (layout == EncoderLayout.IN_SHARDS) {
            // the decoder in the shards: its layers and heads in config.json (openai's file carries its own dims)
            configJson.addProperty(SpeechDecoderConfig.NUM_LAYERS_KEY, TEXT_LAYERS);
            configJson.addProperty(SpeechDecoderConfig.NUM_HEADS_KEY, c.speechEncoderNumHeads());
        }
        Files.writeString(dir.resolve(OmniConfig.FILE_NAME), new com.google.gson.GsonBuilder().setPrettyPrinting()
                .disableHtmlEscaping().create().toJson(configJson));
        // the Whisper vocabulary at its default place: beside the decoder's weights
        Path vocabulary = layout == EncoderLayout.IN_SHARDS ? dir.resolve(WhisperTokenizer.FILE_NAME)
                : dir.resolve(OPENAI_ENCODER_FILE).resolveSibling(WhisperTokenizer.FILE_NAME);
        Files.createDirectories(vocabulary.getParent());
        Files.writeString(vocabulary, TinyTiktoken.fileText(), StandardCharsets.US_ASCII);
        // shard 1: speech encoder and adaptor; shard 2: LLM; shard 3: speech generator
        Map<String, SafeTensorsWriter> shards = new LinkedHashMap<>();
        String s1 = "model-00001-of-00003.safetensors";
        String s2 = "model-00002-of-00003.safetensors";
        String s3 = "model-00003-of-00003.safetensors";
        shards.put(s1, speechEncoderAndAdaptor(c.speechBlocks(), dir, true));
        shards.put(s2, llm(c));
        shards.put(s3, speechGenerator(c));
        JsonObject weightMap = new JsonObject();
        long total = 0;
        for (Map.Entry<String, SafeTensorsWriter> e : shards.entrySet()) {
            e.getValue().metadata("format", "pt");
            e.getValue().write(dir.resolve(e.getKey()));
            total += e.getValue().dataBytes();
        }
        for (Map.Entry<String, SafeTensorsWriter> e : shards.entrySet()) {
            for (String name : dev.omnicall.model.io.SafeTensorsFile.open(dir.resolve(e.getKey())).names()) {
                weightMap.addProperty(name, e.getKey());
            }
        }
        JsonObject index = new JsonObject();
        JsonObject meta = new JsonObject();
        meta.addProperty("total_size", total);
        index.add("metadata", meta);
        index.add("weight_map", weightMap);
        Files.writeString(dir.resolve(ShardedCheckpoint.INDEX_FILE), index.toString());
        Files.writeString(dir.resolve(OmniTokenizer.FILE_NAME), tokenizerJson(c.vocabSize()));
        writeVocoder(dir, vc);
    }

    /** Where a generated tensor goes: a name after the encoder prefix, its shape, its values. */
    private interface Sink {
        void put(String name, long[] shape, float[] values);
    }

    private static final int MELS = 128;
    private static final int AUDIO_CTX = 1500;

    private SafeTensorsWriter speechEncoderAndAdaptor(SpeechBlocksConfig c, Path dir, boolean withWhisperDecoder)
            throws IOException {
        SafeTensorsWriter w = new SafeTensorsWriter();
        if (layout == EncoderLayout.IN_SHARDS) {
            whisperEncoder(c, (name, shape, values) -> w.putFloats(WhisperEncoder.PREFIX + name, DType.F16, shape,
                    values));
            if (withWhisperDecoder) {
                whisperDecoder(c, (name, shape, values) -> w.putFloats(WhisperDecoder.PREFIX + name, DType.F16, shape,
                        values));
            }
        } else {
            TorchCheckpointWriter pt = new TorchCheckpointWriter();
            whisperEncoder(c, (name, shape, values) -> pt.put(WhisperCheckpoint.ENCODER_PREFIX + name, shape, values,
                    DType.F16));
            whisperDecoder(c, (name, shape, values) -> pt.put(WhisperCheckpoint.DECODER_PREFIX + name, shape, values,
                    DType.F16));
            pt.write(dir.resolve(OPENAI_ENCODER_FILE), WhisperCheckpoint.STATE_KEY,
                    Map.of(WhisperCheckpoint.DIMS_KEY, whisperDims(c)));
        }
        int d = c.speechEncoderHiddenSize();
        String a = SpeechAdaptor.PREFIX;
        long in = (long) c.speechEncoderDsRate() * d;
        linear(w, a + "linear1.weight", c.speechProjectorHiddenSize(), in, new long[] {c.speechProjectorHiddenSize(), in});
        bias(w, a + "linear1.bias", c.speechProjectorHiddenSize());
        linear(w, a + "linear2.weight", c.hiddenSize(), c.speechProjectorHiddenSize(),
                new long[] {c.hiddenSize(), c.speechProjectorHiddenSize()});
        bias(w, a + "linear2.bias", c.hiddenSize());
        return w;
    }

    /** The encoder's tensors in openai's order and names (after {@code encoder.}), one random stream. */
    private void whisperEncoder(SpeechBlocksConfig c, Sink w) {
        int d = c.speechEncoderHiddenSize();
        w.put("conv1.weight", new long[] {d, MELS, 3}, gaussian(d * MELS * 3, 1 / Math.sqrt(MELS * 3)));
        w.put("conv1.bias", new long[] {d}, gaussian(d, 0.02));
        w.put("conv2.weight", new long[] {d, d, 3}, gaussian(d * d * 3, 1 / Math.sqrt(d * 3)));
        w.put("conv2.bias", new long[] {d}, gaussian(d, 0.02));
        w.put("positional_embedding", new long[] {AUDIO_CTX, d}, sinusoids(AUDIO_CTX, d));
        for (int i = 0; i < c.speechEncoderNumLayers(); i++) {
            String b = "blocks." + i + ".";
            w.put(b + "attn_ln.weight", new long[] {d}, nearOnes(d));
            w.put(b + "attn_ln.bias", new long[] {d}, gaussian(d, 0.02));
            for (String proj : List.of("query", "key", "value", "out")) {
                w.put(b + "attn." + proj + ".weight", new long[] {d, d}, gaussian(d * d, 1 / Math.sqrt(d)));
                if (!proj.equals("key")) {
                    w.put(b + "attn." + proj + ".bias", new long[] {d}, gaussian(d, 0.02));
                }
            }
            w.put(b + "mlp_ln.weight", new long[] {d}, nearOnes(d));
            w.put(b + "mlp_ln.bias", new long[] {d}, gaussian(d, 0.02));
            w.put(b + "mlp.0.weight", new long[] {4L * d, d}, gaussian(4 * d * d, 1 / Math.sqrt(d)));
            w.put(b + "mlp.0.bias", new long[] {4L * d}, gaussian(4 * d, 0.02));
            w.put(b + "mlp.2.weight", new long[] {d, 4L * d}, gaussian(4 * d * d, 1 / Math.sqrt(4.0 * d)));
            w.put(b + "mlp.2.bias", new long[] {d}, gaussian(d, 0.02));
        }
        w.put("ln_post.weight", new long[] {d}, nearOnes(d));
        w.put("ln_post.bias", new long[] {d}, gaussian(d, 0.02));
    }

    /** The tiny Whisper decoder: as wide and with as many heads as the tiny encoder, 2 blocks, 448 positions. */
    public static final int TEXT_LAYERS = 2;
    public static final int TEXT_CTX = 448;

    /** openai's ModelDimensions for the tiny Whisper (the text side as wide as the audio side, as in every Whisper). */
    static Map<String, Object> whisperDims(SpeechBlocksConfig c) {
        Map<String, Object> dims = new LinkedHashMap<>();
        dims.put("n_mels", MELS);
        dims.put("n_vocab", TinyTiktoken.nVocab());
        dims.put("n_audio_ctx", AUDIO_CTX);
        dims.put("n_audio_state", c.speechEncoderHiddenSize());
        dims.put("n_audio_head", c.speechEncoderNumHeads());
        dims.put("n_audio_layer", c.speechEncoderNumLayers());
        dims.put("n_text_ctx", TEXT_CTX);
        dims.put("n_text_state", c.speechEncoderHiddenSize());
        dims.put("n_text_head", c.speechEncoderNumHeads());
        dims.put("n_text_layer", TEXT_LAYERS);
        return dims;
    }

    /**
     * The Whisper text decoder's tensors in openai's names (after {@code decoder.}), from a random stream of
     * its own (so every other weight is the same as before the decoder existed, and both layouts get the same
     * decoder). The embedding rows of the special tokens other than end-of-text are drawn 4x larger, so an
     * unsuppressed greedy decode would pick specials: the suppression tests rely on that.
     */
    private void whisperDecoder(SpeechBlocksConfig c, Sink w) {
        SplittableRandom r = new SplittableRandom(seed ^ 0x5EEDDEC0DE5L);
        int d = c.speechEncoderHiddenSize();
        int vocab = TinyTiktoken.nVocab();
        int eot = TinyTiktoken.tokens().size();
        float[] embedding = new float[vocab * d];
        for (int t = 0; t < vocab; t++) {
            double std = t > eot ? 4.0 : 1.0;
            for (int j = 0; j < d; j++) {
                embedding[t * d + j] = (float) (r.nextGaussian() * std);
            }
        }
        w.put("token_embedding.weight", new long[] {vocab, d}, embedding);
        w.put("positional_embedding", new long[] {TEXT_CTX, d}, gaussian(r, TEXT_CTX * d, 0.3));
        for (int i = 0; i < TEXT_LAYERS; i++) {
            String b = "blocks." + i + ".";
            for (String attn : List.of("attn", "cross_attn")) {
                for (String proj : List.of("query", "key", "value", "out")) {
                    w.put(b + attn + "." + proj + ".weight", new long[] {d, d}, gaussian(r, d * d, 1 / Math.sqrt(d)));
                    if (!proj.equals("key")) {
                        w.put(b + attn + "." + proj + ".bias", new long[] {d}, gaussian(r, d, 0.02));
                    }
                }
                w.put(b + attn + "_ln.weight", new long[] {d}, plusOne(gaussian(r, d, 0.1)));
                w.put(b + attn + "_ln.bias", new long[] {d}, gaussian(r, d, 0.02));
            }
            w.put(b + "mlp.0.weight", new long[] {4L * d, d}, gaussian(r, 4 * d * d, 1 / Math.sqrt(d)));
            w.put(b + "mlp.0.bias", new long[] {4L * d}, gaussian(r, 4 * d, 0.02));
            w.put(b + "mlp.2.weight", new long[] {d, 4L * d}, gaussian(r, 4 * d * d, 1 / Math.sqrt(4.0 * d)));
            w.put(b + "mlp.2.bias", new long[] {d}, gaussian(r, d, 0.02));
            w.put(b + "mlp_ln.weight", new long[] {d}, plusOne(gaussian(r, d, 0.1)));
            w.put(b + "mlp_ln.bias", new long[] {d}, gaussian(r, d, 0.02));
        }
        w.put("ln.weight", new long[] {d}, plusOne(gaussian(r, d, 0.1)));
        w.put("ln.bias", new long[] {d}, gaussian(r, d, 0.02));
    }

    private static float[] gaussian(SplittableRandom r, int n, double std) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (r.nextGaussian() * std);
        }
        return v;
    }

    private static float[] plusOne(float[] v) {
        for (int i = 0; i < v.length; i++) {
            v[i] += 1;
        }
        return v;
    }

    private SafeTensorsWriter llm(OmniConfig c) {
        SafeTensorsWriter w = new SafeTensorsWriter();
        transformer(w, c.llmSpec());
        return w;
    }

    /**
     * The shared transformer in either family's names: {@code prefix + model.embed_tokens}, the layers (q/k/v
     * biases when the spec has them), {@code model.norm}, and {@code lm_head.weight} unless tied.
     */
    private void transformer(SafeTensorsWriter w, LlamaModel.Spec s) {
        int d = s.hiddenSize();
        String p = s.prefix();
        w.putFloats(p + "model.embed_tokens.weight", DType.F16, new long[] {s.vocabSize(), d},
                gaussian(s.vocabSize() * d, 1.0));
        for (int i = 0; i < s.numHiddenLayers(); i++) {
            llamaLayer(w, p + "model.layers." + i + ".", d, s.numAttentionHeads(), s.numKeyValueHeads(),
                    s.intermediateSize(), s.attentionBias());
        }
        w.putFloats(p + "model.norm.weight", DType.F16, new long[] {d}, nearOnes(d));
        if (!s.tieWordEmbeddings()) {
            linear(w, p + "lm_head.weight", s.vocabSize(), d, new long[] {s.vocabSize(), d});
        }
    }

    /**
     * The blocks both families share, drawn from one writer's random stream in the order they are asked for: for
     * another family's tiny checkpoint (LLaMA-Omni2's {@code TinyOmni2Writer}), so no block is written twice.
     */
    public static final class SharedBlocks {
        private final TinyCheckpointWriter w;

        public SharedBlocks(long seed) {
            this.w = new TinyCheckpointWriter(seed, EncoderLayout.IN_SHARDS);
        }

        /** The Whisper encoder ({@code model.speech_encoder.*}, no Whisper decoder) and the adaptor, fp16. */
        public SafeTensorsWriter speechEncoderAndAdaptor(SpeechBlocksConfig c) {
            try {
                return w.speechEncoderAndAdaptor(c, null, false);
            } catch (IOException e) {
                throw new UncheckedIOException(e); // nothing is written to a file in the shards layout
            }
        }

        /** A transformer of the given variation (prefix, sizes, biases, tied head) into {@code out}, fp16. */
        public void transformer(SafeTensorsWriter out, LlamaModel.Spec spec) {
            w.transformer(out, spec);
        }

        /** {@code name.weight} [outDim, inDim] and {@code name.bias} [outDim], fp16. */
        public void linearWithBias(SafeTensorsWriter out, String name, int outDim, int inDim) {
            w.linear(out, name + ".weight", outDim, inDim, new long[] {outDim, inDim});
            w.bias(out, name + ".bias", outDim);
        }

        /** Normal values from the same stream. */
        public float[] gaussian(int n, double std) {
            return w.gaussian(n, std);
        }
    }

    private SafeTensorsWriter speechGenerator(OmniConfig c) {
        SafeTensorsWriter w = new SafeTensorsWriter();
        var spec = c.ctcDecoder();
        String p = CtcUnitDecoder.PREFIX;
        linear(w, p + "input_proj.weight", spec.dim(), c.hiddenSize(), new long[] {spec.dim(), c.hiddenSize()});
        bias(w, p + "input_proj.bias", spec.dim());
        for (int i = 0; i < spec.layers(); i++) {
            llamaLayer(w, p + "layers." + i + ".", spec.dim(), spec.heads(), spec.heads(), spec.ffn());
        }
        // a larger output scale makes greedy labels decisive, as a trained decoder's are
        long classes = c.unitVocabSize() + 1L;
        w.putFloats(p + "output_proj.weight", DType.F16, new long[] {classes, spec.dim()},
                gaussian((int) (classes * spec.dim()), 3.0 / Math.sqrt(spec.dim())));
        bias(w, p + "output_proj.bias", (int) classes);
        return w;
    }

    private void llamaLayer(SafeTensorsWriter w, String p, int d, int heads, int kvHeads, int ffn) {
        llamaLayer(w, p, d, heads, kvHeads, ffn, false);
    }

    /** One decoder layer; {@code qkvBias}: Qwen2's q/k/v biases, each right after its weight. */
    private void llamaLayer(SafeTensorsWriter w, String p, int d, int heads, int kvHeads, int ffn, boolean qkvBias) {
        int headDim = d / heads;
        linear(w, p + "self_attn.q_proj.weight", (long) heads * headDim, d, new long[] {(long) heads * headDim, d});
        if (qkvBias) {
            bias(w, p + "self_attn.q_proj.bias", heads * headDim);
        }
        linear(w, p + "self_attn.k_proj.weight", (long) kvHeads * headDim, d, new long[] {(long) kvHeads * headDim, d});
        if (qkvBias) {
            bias(w, p + "self_attn.k_proj.bias", kvHeads * headDim);
        }
        linear(w, p + "self_attn.v_proj.weight", (long) kvHeads * headDim, d, new long[] {(long) kvHeads * headDim, d});
        if (qkvBias) {
            bias(w, p + "self_attn.v_proj.bias", kvHeads * headDim);
        }
        linear(w, p + "self_attn.o_proj.weight", d, (long) heads * headDim, new long[] {d, (long) heads * headDim});
        linear(w, p + "mlp.gate_proj.weight", ffn, d, new long[] {ffn, d});
        linear(w, p + "mlp.up_proj.weight", ffn, d, new long[] {ffn, d});
        linear(w, p + "mlp.down_proj.weight", d, ffn, new long[] {d, ffn});
        w.putFloats(p + "input_layernorm.weight", DType.F16, new long[] {d}, nearOnes(d));
        w.putFloats(p + "post_attention_layernorm.weight", DType.F16, new long[] {d}, nearOnes(d));
    }

    private void writeVocoder(Path dir, VocoderConfig vc) throws IOException {
        TorchCheckpointWriter w = new TorchCheckpointWriter();
        int emb = vc.embeddingDim();
        var dp = vc.durPredictorParams();
        int h = dp.varPredHiddenDim();
        int k = dp.varPredKernelSize();
        w.put("dict.weight", new long[] {vc.numEmbeddings(), emb}, gaussian(vc.numEmbeddings() * emb, 1.0));
        w.put("dur_predictor.conv1.0.weight", new long[] {h, emb, k}, gaussian(h * emb * k, 1 / Math.sqrt(emb * k)));
        w.put("dur_predictor.conv1.0.bias", new long[] {h}, gaussian(h, 0.02));
        w.put("dur_predictor.ln1.weight", new long[] {h}, nearOnes(h));
        w.put("dur_predictor.ln1.bias", new long[] {h}, gaussian(h, 0.02));
        w.put("dur_predictor.conv2.0.weight", new long[] {h, h, k}, gaussian(h * h * k, 1 / Math.sqrt(h * k)));
        w.put("dur_predictor.conv2.0.bias", new long[] {h}, gaussian(h, 0.02));
        w.put("dur_predictor.ln2.weight", new long[] {h}, nearOnes(h));
        w.put("dur_predictor.ln2.bias", new long[] {h}, gaussian(h, 0.02));
        // log-durations around 1.1: one to three frames per unit
        w.put("dur_predictor.proj.weight", new long[] {1, h}, gaussian(h, 0.3 / Math.sqrt(h)));
        w.put("dur_predictor.proj.bias", new long[] {1}, new float[] {1.1f});
        int c0 = vc.upsampleInitialChannel();
        weightNorm(w, "conv_pre", c0, emb, 7);
        w.put("conv_pre.bias", new long[] {c0}, gaussian(c0, 0.02));
        int kernels = vc.resblockKernelSizes().size();
        for (int i = 0; i < vc.upsampleRates().size(); i++) {
            int in = c0 >> i;
            int out = c0 >> (i + 1);
            weightNorm(w, "ups." + i, in, out, vc.upsampleKernelSizes().get(i));
            w.put("ups." + i + ".bias", new long[] {out}, gaussian(out, 0.02));
            for (int j = 0; j < kernels; j++) {
                String rb = "resblocks." + (i * kernels + j) + ".";
                int kk = vc.resblockKernelSizes().get(j);
                for (int m = 0; m < vc.resblockDilationSizes().get(j).size(); m++) {
                    for (String conv : List.of("convs1.", "convs2.")) {
                        weightNorm(w, rb + conv + m, out, out, kk);
                        w.put(rb + conv + m + ".bias", new long[] {out}, gaussian(out, 0.02));
                    }
                }
            }
        }
        int last = c0 >> vc.upsampleRates().size();
        weightNorm(w, "conv_post", 1, last, 7);
        w.put("conv_post.bias", new long[] {1}, gaussian(1, 0.02));
        w.write(dir.resolve(ModelOptions.DEFAULT_VOCODER), "generator");
        Files.writeString(dir.resolve(ModelOptions.DEFAULT_VOCODER_CONFIG), Json.write(vc));
    }

    /** weight_v random, weight_g around 1 per dim-0 slice (so each output channel has unit norm). */
    private void weightNorm(TorchCheckpointWriter w, String p, int d0, int d1, int k) {
        w.put(p + ".weight_v", new long[] {d0, d1, k}, gaussian(d0 * d1 * k, 1.0));
        float[] g = new float[d0];
        for (int i = 0; i < d0; i++) {
            g[i] = (float) (1.0 + 0.1 * random.nextGaussian());
        }
        w.put(p + ".weight_g", new long[] {d0, 1, 1}, g);
    }

    private void linear(SafeTensorsWriter w, String name, long out, long in, long[] shape) {
        w.putFloats(name, DType.F16, shape, gaussian((int) (out * in), 1 / Math.sqrt(in)));
    }

    private void bias(SafeTensorsWriter w, String name, int n) {
        w.putFloats(name, DType.F16, new long[] {n}, gaussian(n, 0.02));
    }

    private void norm(SafeTensorsWriter w, String prefix, int d) {
        w.putFloats(prefix + ".weight", DType.F16, new long[] {d}, nearOnes(d));
        w.putFloats(prefix + ".bias", DType.F16, new long[] {d}, gaussian(d, 0.02));
    }

    private float[] gaussian(int n, double std) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (random.nextGaussian() * std);
        }
        return v;
    }

    private float[] nearOnes(int n) {
        float[] v = gaussian(n, 0.1);
        for (int i = 0; i < n; i++) {
            v[i] += 1;
        }
        return v;
    }

    /** openai/whisper's sinusoids(length, channels). */
    static float[] sinusoids(int length, int channels) {
        int half = channels / 2;
        double inc = Math.log(10000) / (half - 1);
        float[] out = new float[length * channels];
        for (int t = 0; t < length; t++) {
            for (int j = 0; j < half; j++) {
                double angle = t * Math.exp(-inc * j);
                out[t * channels + j] = (float) Math.sin(angle);
                out[t * channels + half + j] = (float) Math.cos(angle);
            }
        }
        return out;
    }

    /**
     * A byte-level BPE tokenizer (GPT-2 byte alphabet, ids 0-255, no merges) with the Llama-3 special
     * tokens at 256.. and, like the real Llama-3 tokenizer.json, a post-processor that prepends
     * <|begin_of_text|> (which the runtime must not use).
     */
    static String tokenizerJson(int vocabSize) {
        return tokenizerJson(vocabSize, SPECIALS, "<|begin_of_text|>");
    }

    /**
     * The same byte-level BPE with {@code specials} at 256.. and, when {@code bosToken} is not null, a
     * post-processor that prepends it (Llama-3's has one; Qwen2.5's has none).
     */
    public static String tokenizerJson(int vocabSize, List<String> specials, String bosToken) {
        if (vocabSize < 256 + specials.size()) {
            throw new IllegalArgumentException("vocab_size " + vocabSize + " too small for the tiny tokenizer");
        }
        JsonObject vocab = new JsonObject();
        int[] byteToChar = byteLevelAlphabet();
        for (int b = 0; b < 256; b++) {
            vocab.addProperty(new String(Character.toChars(byteToChar[b])), b);
        }
        JsonArray added = new JsonArray();
        for (int i = 0; i < specials.size(); i++) {
            JsonObject t = new JsonObject();
            t.addProperty("id", 256 + i);
            t.addProperty("content", specials.get(i));
            t.addProperty("single_word", false);
            t.addProperty("lstrip", false);
            t.addProperty("rstrip", false);
            t.addProperty("normalized", false);
            t.addProperty("special", true);
            added.add(t);
        }
        JsonObject byteLevel = new JsonObject();
        byteLevel.addProperty("type", "ByteLevel");
        byteLevel.addProperty("add_prefix_space", false);
        byteLevel.addProperty("trim_offsets", true);
        byteLevel.addProperty("use_regex", true);
        JsonObject model = new JsonObject();
        model.addProperty("type", "BPE");
        model.add("dropout", null);
        model.add("unk_token", null);
        model.add("continuing_subword_prefix", null);
        model.add("end_of_word_suffix", null);
        model.addProperty("fuse_unk", false);
        model.addProperty("byte_fallback", false);
        model.add("vocab", vocab);
        model.add("merges", new JsonArray());
        String bos = bosToken == null ? specials.get(0) : bosToken; // the post-processor is dropped when null
        JsonObject bosPiece = new JsonObject();
        JsonObject special = new JsonObject();
        special.addProperty("id", bos);
        special.addProperty("type_id", 0);
        bosPiece.add("SpecialToken", special);
        JsonObject seqPiece = new JsonObject();
        JsonObject seq = new JsonObject();
        seq.addProperty("id", "A");
        seq.addProperty("type_id", 0);
        seqPiece.add("Sequence", seq);
        JsonArray single = new JsonArray();
        single.add(bosPiece);
        single.add(seqPiece);
        JsonObject bosEntry = new JsonObject();
        bosEntry.addProperty("id", bos);
        JsonArray bosIds = new JsonArray();
        bosIds.add(256 + specials.indexOf(bos));
        bosEntry.add("ids", bosIds);
        JsonArray bosTokens = new JsonArray();
        bosTokens.add(bos);
        bosEntry.add("tokens", bosTokens);
        JsonObject specialTokens = new JsonObject();
        specialTokens.add(bos, bosEntry);
        JsonObject post = new JsonObject();
        post.addProperty("type", "TemplateProcessing");
        post.add("single", single);
        JsonArray pair = new JsonArray();
        pair.add(bosPiece);
        pair.add(seqPiece);
        post.add("pair", pair);
        post.add("special_tokens", specialTokens);
        JsonObject root = new JsonObject();
        root.addProperty("version", "1.0");
        root.add("truncation", null);
        root.add("padding", null);
        root.add("added_tokens", added);
        root.add("normalizer", null);
        root.add("pre_tokenizer", byteLevel);
        root.add("post_processor", bosToken == null ? null : post);
        root.add("decoder", byteLevel);
        root.add("model", model);
        return new com.google.gson.GsonBuilder().serializeNulls().disableHtmlEscaping().create().toJson(root);
    }

    /** GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to 256+n. */
    static int[] byteLevelAlphabet() {
        int[] map = new int[256];
        boolean[] printable = new boolean[256];
        for (int b = '!'; b <= '~'; b++) {
            printable[b] = true;
        }
        for (int b = 0xA1; b <= 0xAC; b++) {
            printable[b] = true;
        }
        for (int b = 0xAE; b <= 0xFF; b++) {
            printable[b] = true;
        }
        int n = 0;
        for (int b = 0; b < 256; b++) {
            map[b] = printable[b] ? b : 256 + n++;
        }
        return map;
    }

    private static void deleteTree(Path root) throws IOException {
        try (var paths = Files.walk(root)) {
            List<Path> all = new ArrayList<>(paths.toList());
            java.util.Collections.reverse(all);
            for (Path p : all) {
                Files.deleteIfExists(p);
            }
        }
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
