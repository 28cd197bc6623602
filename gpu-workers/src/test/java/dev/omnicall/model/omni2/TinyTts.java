package dev.omnicall.model.omni2;

import dev.omnicall.model.io.DType;
import dev.omnicall.model.io.SafeTensorsWriter;
import dev.omnicall.model.io.TorchCheckpointWriter;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Tiny random weights of LLaMA-Omni2's speech generator in the published tensor names: LLM width H = 24, a
 * Qwen2 TTS LM of width 32 (4 heads of 8, 2 KV heads, FFN 48, 2 layers, theta 1e6, eps 1e-6) over a vocabulary
 * laid out as the published one: text ids 0..39, {@code <sep>} 40, units 41..64, end 3.
 */
final class TinyTts {
    static final int LLM_HIDDEN = 24;
    static final int DIM = 32;
    static final int HEADS = 4;
    static final int KV_HEADS = 2;
    static final int FFN = 48;
    static final int LAYERS = 2;
    static final int UNITS = 24;
    static final int VOCAB = 65;
    static final int END = 3;
    static final double THETA = 1e6;
    static final double EPS = 1e-6;

    private TinyTts() {
    }

    static SpeechGeneratorConfig config(boolean tied) {
        return SpeechGeneratorConfig.of(DIM, FFN, HEADS, KV_HEADS, LAYERS, EPS, THETA, VOCAB, tied, END);
    }

    static TtsVocabulary vocabulary() {
        return TtsVocabulary.fromLayout(VOCAB, UNITS, END);
    }

    /** Named tensors with their shapes, in file order. */
    static final class Weights {
        final Map<String, long[]> shapes = new LinkedHashMap<>();
        final Map<String, float[]> values = new LinkedHashMap<>();

        void put(String name, float[] v, long... shape) {
            shapes.put(name, shape);
            values.put(name, v);
        }

        Weights without(String name) {
            Weights w = copy();
            w.shapes.remove(name);
            w.values.remove(name);
            return w;
        }

        /** The tensor stored with another shape (zeros). */
        Weights reshaped(String name, long... shape) {
            Weights w = copy();
            w.put(name, new float[(int) Arrays.stream(shape).reduce(1, (a, b) -> a * b)], shape);
            return w;
        }

        private Weights copy() {
            Weights w = new Weights();
            w.shapes.putAll(shapes);
            w.values.putAll(values);
            return w;
        }

        Path writeSafetensors(Path file) throws IOException {
            SafeTensorsWriter out = new SafeTensorsWriter();
            shapes.forEach((name, shape) -> out.putFloats(name, DType.F32, shape, values.get(name)));
            out.write(file);
            return file;
        }

        Path writeTorch(Path file) throws IOException {
            TorchCheckpointWriter out = new TorchCheckpointWriter();
            shapes.forEach((name, shape) -> out.put(name, shape, values.get(name)));
            out.write(file, null);
            return file;
        }
    }

    /** Deterministic weights for a seed; {@code withLmHead}: also store the (tied) lm_head.weight. */
    static Weights weights(long seed, boolean withLmHead) {
        SplittableRandom r = new SplittableRandom(seed);
        Weights w = new Weights();
        int h2 = 2 * LLM_HIDDEN;
        linear(w, r, "speech_generator.input_proj.0", h2, LLM_HIDDEN);
        linear(w, r, "speech_generator.input_proj.2", DIM, h2);
        linear(w, r, "speech_generator.gate.0", DIM, 2 * DIM);
        String p = "speech_generator.model.model.";
        float[] embed = gaussian(r, VOCAB * DIM, 1.0);
        // a louder end row, so that the end token wins now and then
        for (int i = 0; i < DIM; i++) {
            embed[END * DIM + i] *= 1.5f;
        }
        w.put(p + "embed_tokens.weight", embed, VOCAB, DIM);
        int hd = DIM / HEADS;
        for (int l = 0; l < LAYERS; l++) {
            String q = p + "layers." + l + ".";
            linear(w, r, q + "self_attn.q_proj", HEADS * hd, DIM);
            linear(w, r, q + "self_attn.k_proj", KV_HEADS * hd, DIM);
            linear(w, r, q + "self_attn.v_proj", KV_HEADS * hd, DIM);
            w.put(q + "self_attn.o_proj.weight", gaussian(r, DIM * HEADS * hd, 1 / Math.sqrt(DIM)), DIM, HEADS * hd);
            w.put(q + "mlp.gate_proj.weight", gaussian(r, FFN * DIM, 1 / Math.sqrt(DIM)), FFN, DIM);
            w.put(q + "mlp.up_proj.weight", gaussian(r, FFN * DIM, 1 / Math.sqrt(DIM)), FFN, DIM);
            w.put(q + "mlp.down_proj.weight", gaussian(r, DIM * FFN, 1 / Math.sqrt(FFN)), DIM, FFN);
            w.put(q + "input_layernorm.weight", norm(r), DIM);
            w.put(q + "post_attention_layernorm.weight", norm(r), DIM);
        }
        w.put(p + "norm.weight", norm(r), DIM);
        if (withLmHead) {
            w.put("speech_generator.model.lm_head.weight", embed.clone(), VOCAB, DIM);
        }
        return w;
    }

    private static void linear(Weights w, SplittableRandom r, String name, int out, int in) {
        w.put(name + ".weight", gaussian(r, out * in, 1 / Math.sqrt(in)), out, in);
        w.put(name + ".bias", gaussian(r, out, 0.3), out);
    }

    private static float[] norm(SplittableRandom r) {
        float[] v = gaussian(r, DIM, 0.2);
        for (int i = 0; i < v.length; i++) {
            v[i] += 1;
        }
        return v;
    }

    static float[] gaussian(SplittableRandom r, int n, double std) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            // Box-Muller
            double u1 = 1 - r.nextDouble();
            double u2 = r.nextDouble();
            v[i] = (float) (std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2));
        }
        return v;
    }
}
