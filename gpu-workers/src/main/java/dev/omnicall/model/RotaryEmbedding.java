package dev.omnicall.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.omnicall.model.config.RopeScaling;
import dev.omnicall.model.config.RopeSettings;

/**
 * Rotary position embedding in the Hugging Face layout (rotate_half over the two halves of a head),
 * with Llama 3.1's frequency rescaling: long wavelengths divided by {@code factor}, short ones kept,
 * a smooth blend between {@code low_freq_factor} and {@code high_freq_factor}. Without scaling (Qwen2: rope_theta
 * 1e6, no rope_scaling) the frequencies are theta^(−2i/headDim) as they are.
 */
final class RotaryEmbedding {
    private final int headDim;
    private final double[] invFreq; // [headDim/2]

    RotaryEmbedding(int headDim, RopeSettings settings) {
        this.headDim = headDim;
        this.invFreq = new double[headDim / 2];
        for (int i = 0; i < invFreq.length; i++) {
            double freq = 1.0 / Math.pow(settings.theta(), (2.0 * i) / headDim);
            invFreq[i] = settings.scaling() == null ? freq : llama3(freq, settings.scaling());
        }
    }

    private static double llama3(double freq, RopeScaling s) {
        double lowFreqWavelen = s.originalMaxPositionEmbeddings() / s.lowFreqFactor();
        double highFreqWavelen = s.originalMaxPositionEmbeddings() / s.highFreqFactor();
        double wavelen = 2 * Math.PI / freq;
        if (wavelen < highFreqWavelen) {
            return freq;
        }
        if (wavelen > lowFreqWavelen) {
            return freq / s.factor();
        }
        double smooth = (s.originalMaxPositionEmbeddings() / wavelen - s.lowFreqFactor())
                / (s.highFreqFactor() - s.lowFreqFactor());
        return (1 - smooth) * freq / s.factor() + smooth * freq;
    }

    /** cos and sin tables [positions.length, headDim] for the given absolute positions. */
    NDArray[] table(NDManager manager, long[] positions, DataType type) {
        int n = positions.length;
        float[] cos = new float[n * headDim];
        float[] sin = new float[n * headDim];
        int half = headDim / 2;
        for (int p = 0; p < n; p++) {
            for (int i = 0; i < half; i++) {
                double angle = positions[p] * invFreq[i];
                float c = (float) Math.cos(angle);
                float s = (float) Math.sin(angle);
                cos[p * headDim + i] = c;
                cos[p * headDim + half + i] = c;
                sin[p * headDim + i] = s;
                sin[p * headDim + half + i] = s;
            }
        }
        Shape shape = new Shape(n, headDim);
        return new NDArray[] {manager.create(cos, shape).toType(type, false),
                manager.create(sin, shape).toType(type, false)};
    }

    static long[] range(long start, long count) {
        long[] p = new long[(int) count];
        for (int i = 0; i < p.length; i++) {
            p[i] = start + i;
        }
        return p;
    }

    /** x [..., T, headDim] rotated with cos/sin broadcastable to it. */
    static NDArray apply(NDArray x, NDArray cos, NDArray sin) {
        long d = x.getShape().get(x.getShape().dimension() - 1);
        NDArray first = x.get(new NDIndex("..., :{}", d / 2));
        NDArray second = x.get(new NDIndex("..., {}:", d / 2));
        NDArray rotated = second.neg().concat(first, -1);
        return x.mul(cos).add(rotated.mul(sin));
    }
}
