package dev.omnicall.model;

import dev.omnicall.model.config.SpeechBlocksConfig;
import dev.omnicall.model.io.DType;
import dev.omnicall.model.io.SafeTensorsWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Random weights for a tiny checkpoint in the names of the blocks both families share: the Whisper encoder (and the
 * tiny Whisper text decoder with its tiktoken vocabulary, {@link TinyTiktoken}), the adaptor, the decoder-only
 * transformer in either family's variation, plain linears. Drawn from one seeded stream in the order they are asked
 * for (the Whisper decoder from a stream of its own), so a family's tiny writer ({@code omni.TinyCheckpointWriter},
 * {@code omni2.TinyOmni2Writer}) that asks in the same order writes the same bytes. Deterministic for a seed.
 */
public final class TinySharedBlocks {
    /** Mel bins and encoder positions of the tiny Whisper (large-v3's). */
    public static final int MELS = 128;
    public static final int AUDIO_CTX = 1500;

    /** The tiny Whisper decoder: as wide and with as many heads as the tiny encoder, 2 blocks, 448 positions. */
    public static final int TEXT_LAYERS = 2;
    public static final int TEXT_CTX = 448;

    private final SplittableRandom random;
    private final long seed;

    public TinySharedBlocks(long seed) {
        this.random = new SplittableRandom(seed);
        this.seed = seed;
    }

    /** Where a generated tensor goes: a name after the encoder's (or decoder's) prefix, its shape, its values. */
    public interface Sink {
        void put(String name, long[] shape, float[] values);
    }

    /**
     * The Whisper encoder ({@code model.speech_encoder.*}, no Whisper decoder) and the adaptor in one shard, fp16:
     * the shards layout.
     */
    public SafeTensorsWriter speechEncoderAndAdaptor(SpeechBlocksConfig c) {
        SafeTensorsWriter w = new SafeTensorsWriter();
        whisperEncoder(c, (name, shape, values) -> w.putFloats(WhisperEncoder.PREFIX + name, DType.F16, shape, values));
        adaptor(w, c);
        return w;
    }

    /** The adaptor ({@code model.speech_projector.*}: linear1 [proj, k*enc], linear2 [llm, proj], biases), fp16. */
    public void adaptor(SafeTensorsWriter w, SpeechBlocksConfig c) {
        int d = c.speechEncoderHiddenSize();
        String a = SpeechAdaptor.PREFIX;
        long in = (long) c.speechEncoderDsRate() * d;
        linear(w, a + "linear1.weight", c.speechProjectorHiddenSize(), in,
                new long[] {c.speechProjectorHiddenSize(), in});
        bias(w, a + "linear1.bias", c.speechProjectorHiddenSize());
        linear(w, a + "linear2.weight", c.hiddenSize(), c.speechProjectorHiddenSize(),
                new long[] {c.hiddenSize(), c.speechProjectorHiddenSize()});
        bias(w, a + "linear2.bias", c.hiddenSize());
    }

    /** The encoder's tensors in openai's order and names (after {@code encoder.}), one random stream. */
    public void whisperEncoder(SpeechBlocksConfig c, Sink w) {
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

    /** openai's ModelDimensions for the tiny Whisper (the text side as wide as the audio side, as in every Whisper). */
    public static Map<String, Object> whisperDims(SpeechBlocksConfig c) {
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
    public void whisperDecoder(SpeechBlocksConfig c, Sink w) {
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

    /** The tiny Whisper decoder's vocabulary ({@code multilingual.tiktoken} text) into {@code file}. */
    public static void whisperVocabulary(Path file) throws IOException {
        Files.createDirectories(file.toAbsolutePath().getParent());
        Files.writeString(file, TinyTiktoken.fileText(), StandardCharsets.US_ASCII);
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

    /**
     * The shared transformer in either family's names: {@code prefix + model.embed_tokens}, the layers (q/k/v
     * biases when the spec has them), {@code model.norm}, and {@code lm_head.weight} unless tied.
     */
    public void transformer(SafeTensorsWriter w, LlamaModel.Spec s) {
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

    /** {@code name.weight} [outDim, inDim] and {@code name.bias} [outDim], fp16. */
    public void linearWithBias(SafeTensorsWriter out, String name, int outDim, int inDim) {
        linear(out, name + ".weight", outDim, inDim, new long[] {outDim, inDim});
        bias(out, name + ".bias", outDim);
    }

    /** One decoder layer; {@code qkvBias}: Qwen2's q/k/v biases, each right after its weight. */
    public void llamaLayer(SafeTensorsWriter w, String p, int d, int heads, int kvHeads, int ffn, boolean qkvBias) {
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

    /** A weight [out, in] (as {@code shape}), normal with std 1/sqrt(in), fp16. */
    public void linear(SafeTensorsWriter w, String name, long out, long in, long[] shape) {
        w.putFloats(name, DType.F16, shape, gaussian((int) (out * in), 1 / Math.sqrt(in)));
    }

    /** A bias [n], normal with std 0.02, fp16. */
    public void bias(SafeTensorsWriter w, String name, int n) {
        w.putFloats(name, DType.F16, new long[] {n}, gaussian(n, 0.02));
    }

    /** The stream's next normal value, for a family's own shapes. */
    public double nextGaussian() {
        return random.nextGaussian();
    }

    /** Normal values from the stream. */
    public float[] gaussian(int n, double std) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (random.nextGaussian() * std);
        }
        return v;
    }

    /** Normal values around 1 (std 0.1): a norm's weight. */
    public float[] nearOnes(int n) {
        float[] v = gaussian(n, 0.1);
        for (int i = 0; i < n; i++) {
            v[i] += 1;
        }
        return v;
    }

    /** openai/whisper's sinusoids(length, channels). */
    private static float[] sinusoids(int length, int channels) {
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
}
