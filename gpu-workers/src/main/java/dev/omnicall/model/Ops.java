package dev.omnicall.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import java.util.function.Supplier;

/**
 * The handful of tensor operations the blocks share, each written once: linear, norms, activations,
 * embedding lookup, 1-D convolutions (the transposed one built from an ordinary convolution, because
 * DJL's PyTorch engine has no Conv1dTranspose) and softmax attention with a causal mask.
 */
public final class Ops {
    private static final float NEG_INF = Float.NEGATIVE_INFINITY;
    /** Query rows per attention block: bounds the score matrix for long sequences (exact, just chunked). */
    private static final long MAX_SCORE_ELEMENTS = 32L << 20;

    private Ops() {
    }

    /**
     * Runs body in its own NDScope: every intermediate it creates is closed, the result survives and is
     * handed to the enclosing scope (if any).
     */
    public static NDArray scoped(Supplier<NDArray> body) {
        NDArray result;
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            result = body.get();
            NDScope.unregister(result);
        }
        NDScope.register(result);
        return result;
    }

    /** y = x W^T (+ b). */
    public static NDArray linear(NDArray x, NDArray weight, NDArray bias) {
        return x.getNDArrayInternal().linear(x, weight, bias).singletonOrThrow();
    }

    static NDArray linear(NDArray x, NDArray weight) {
        return linear(x, weight, null);
    }

    /** Llama RMSNorm, computed in float32 like the reference, then cast back. */
    static NDArray rmsNorm(NDArray x, NDArray weight, double eps) {
        DataType type = x.getDataType();
        NDArray x32 = x.toType(DataType.FLOAT32, false);
        NDArray inv = x32.square().mean(new int[] {-1}, true).add(eps).sqrt().pow(-1);
        return x32.mul(inv).toType(type, false).mul(weight);
    }

    /** LayerNorm over the last axis, in float32. */
    public static NDArray layerNorm(NDArray x, NDArray weight, NDArray bias, double eps) {
        DataType type = x.getDataType();
        NDArray x32 = x.toType(DataType.FLOAT32, false);
        long d = x.getShape().get(x.getShape().dimension() - 1);
        NDArray y = x32.getNDArrayInternal()
                .layerNorm(x32, new Shape(d), weight.toType(DataType.FLOAT32, false),
                        bias.toType(DataType.FLOAT32, false), (float) eps)
                .singletonOrThrow();
        return y.toType(type, false);
    }

    /** Exact (erf) GELU, as Whisper uses. */
    static NDArray gelu(NDArray x) {
        return x.getNDArrayInternal().gelu();
    }

    public static NDArray silu(NDArray x) {
        return x.mul(x.getNDArrayInternal().sigmoid());
    }

    public static NDArray leakyRelu(NDArray x, float slope) {
        return x.getNDArrayInternal().leakyRelu(slope);
    }

    /** Rows of table for the given ids: ids [...], table [V, D] -> [..., D]. */
    public static NDArray embedding(NDArray ids, NDArray table) {
        return ids.getNDArrayInternal().embedding(ids, table, SparseFormat.DENSE).singletonOrThrow();
    }

    /** conv1d on [N, C, L] with weight [out, in, k]. */
    public static NDArray conv1d(NDArray x, NDArray weight, NDArray bias, int stride, int padding, int dilation) {
        return x.getNDArrayInternal().convolution(x, weight, bias, new Shape(stride), new Shape(padding),
                new Shape(dilation), 1).singletonOrThrow();
    }

    /**
     * ConvTranspose1d (weight [in, out, k], PyTorch layout) as zero-insertion + zero padding + conv1d with
     * the kernel flipped and its in/out axes swapped. Exact: output length (L-1)*stride - 2*padding + k.
     */
    public static NDArray convTranspose1d(NDArray x, NDArray weight, NDArray bias, int stride, int padding) {
        long n = x.getShape().get(0);
        long c = x.getShape().get(1);
        long length = x.getShape().get(2);
        int k = (int) weight.getShape().get(2);
        if (padding > k - 1) {
            throw new IllegalArgumentException("transposed conv padding " + padding + " exceeds kernel - 1");
        }
        NDArray spread = x;
        if (stride > 1) {
            // insert stride-1 zeros after every sample, then drop the trailing ones
            NDArray zeros = x.getManager().zeros(new Shape(n, c, length, stride - 1), x.getDataType(), x.getDevice());
            spread = x.expandDims(3).concat(zeros, 3).reshape(n, c, length * stride)
                    .get(new NDIndex(":, :, :{}", (length - 1) * stride + 1));
        }
        NDArray kernel = weight.transpose(1, 0, 2).flip(2);
        return conv1d(spread, kernel, bias, 1, k - 1 - padding, 1);
    }

    /**
     * Softmax attention. q [H, T, d]; k, v [KV, S, d] with H a multiple of KV (grouped-query: head h reads
     * kv head h / (H/KV)). Query row t sits at absolute position queryStart + t; with causal set it sees
     * keys 0..queryStart+t. Scores and softmax in float32. Returns [T, H*d].
     */
    static NDArray attention(NDArray q, NDArray k, NDArray v, double scale, boolean causal, long queryStart) {
        long heads = q.getShape().get(0);
        long t = q.getShape().get(1);
        long d = q.getShape().get(2);
        long kvHeads = k.getShape().get(0);
        long s = k.getShape().get(1);
        long group = heads / kvHeads;
        DataType type = q.getDataType();
        NDArray kt = k.transpose(0, 2, 1);
        long rowsPerBlock = Math.max(1, MAX_SCORE_ELEMENTS / Math.max(1, heads * s));
        NDArray out = null;
        for (long r0 = 0; r0 < t; r0 += rowsPerBlock) {
            long r1 = Math.min(t, r0 + rowsPerBlock);
            long rows = r1 - r0;
            NDArray qb = rows == t ? q : q.get(new NDIndex(":, {}:{}", r0, r1));
            // [KV, G*rows, d] x [KV, d, S] -> [KV, G, rows, S]
            NDArray scores = qb.reshape(kvHeads, group * rows, d).matMul(kt)
                    .toType(DataType.FLOAT32, false).mul(scale).reshape(kvHeads, group, rows, s);
            if (causal && queryStart + r0 < s - 1) {
                scores = scores.add(causalMask(q.getManager(), queryStart + r0, rows, s));
            }
            NDArray probs = scores.softmax(-1).toType(type, false).reshape(kvHeads, group * rows, s);
            NDArray block = probs.matMul(v).reshape(heads, rows, d);
            out = out == null ? block : out.concat(block, 1);
        }
        return out.transpose(1, 0, 2).reshape(t, heads * d);
    }

    /** [rows, S] with -inf where key index > query position. */
    private static NDArray causalMask(NDManager manager, long firstPosition, long rows, long keys) {
        float[] mask = new float[(int) (rows * keys)];
        for (int r = 0; r < rows; r++) {
            long pos = firstPosition + r;
            for (long c = pos + 1; c < keys; c++) {
                mask[(int) (r * keys + c)] = NEG_INF;
            }
        }
        return manager.create(mask, new Shape(rows, keys));
    }
}
