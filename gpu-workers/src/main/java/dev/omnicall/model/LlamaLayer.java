package dev.omnicall.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.omnicall.model.io.TensorSource;
import java.util.List;

/**
 * One Llama decoder layer (pre-RMSNorm attention with RoPE and grouped-query heads, then a pre-RMSNorm
 * SwiGLU MLP). The LLM has 32 of them; the CTC speech decoder has 2 with the same tensor names under
 * its own prefix.
 */
final class LlamaLayer {
    final NDArray wq; // [heads*headDim, dim]
    final NDArray wk; // [kvHeads*headDim, dim]
    final NDArray wv; // [kvHeads*headDim, dim]
    final NDArray wo; // [dim, heads*headDim]
    final NDArray wGate; // [ffn, dim]
    final NDArray wUp; // [ffn, dim]
    final NDArray wDown; // [dim, ffn]
    final NDArray inputNorm; // [dim]
    final NDArray postAttentionNorm; // [dim]
    private final int heads;
    private final int kvHeads;
    private final int headDim;
    private final double eps;

    LlamaLayer(TensorSource src, NDManager m, DataType type, String prefix, int dim, int heads, int kvHeads,
            int ffn, double eps) {
        this.heads = heads;
        this.kvHeads = kvHeads;
        this.headDim = dim / heads;
        this.eps = eps;
        wq = src.load(m, prefix + "self_attn.q_proj.weight", type, (long) heads * headDim, dim);
        wk = src.load(m, prefix + "self_attn.k_proj.weight", type, (long) kvHeads * headDim, dim);
        wv = src.load(m, prefix + "self_attn.v_proj.weight", type, (long) kvHeads * headDim, dim);
        wo = src.load(m, prefix + "self_attn.o_proj.weight", type, dim, (long) heads * headDim);
        wGate = src.load(m, prefix + "mlp.gate_proj.weight", type, ffn, dim);
        wUp = src.load(m, prefix + "mlp.up_proj.weight", type, ffn, dim);
        wDown = src.load(m, prefix + "mlp.down_proj.weight", type, dim, ffn);
        inputNorm = src.load(m, prefix + "input_layernorm.weight", type, dim);
        postAttentionNorm = src.load(m, prefix + "post_attention_layernorm.weight", type, dim);
    }

    /**
     * One sequence: x [T, dim] at positions start..start+T-1 (cos/sin [T, headDim]); with a cache the new
     * keys and values are appended to it, without one the T rows attend only to each other.
     */
    NDArray forward(NDArray x, NDArray cos, NDArray sin, KvCache cache, int layerIndex, long start) {
        long t = x.getShape().get(0);
        // attention input norm
        NDArray h = Ops.rmsNorm(x, inputNorm, eps);
        // q, k, v projections, heads first: [heads, T, headDim]
        NDArray q = Ops.linear(h, wq).reshape(t, heads, headDim).transpose(1, 0, 2);
        NDArray k = Ops.linear(h, wk).reshape(t, kvHeads, headDim).transpose(1, 0, 2);
        NDArray v = Ops.linear(h, wv).reshape(t, kvHeads, headDim).transpose(1, 0, 2);
        // rotary positions
        q = RotaryEmbedding.apply(q, cos, sin);
        k = RotaryEmbedding.apply(k, cos, sin);
        // append to the cache and attend causally over everything cached
        if (cache != null) {
            NDArray[] kv = cache.append(layerIndex, k, v);
            k = kv[0];
            v = kv[1];
        }
        NDArray attn = Ops.attention(q, k, v, 1.0 / Math.sqrt(headDim), true, cache != null ? start : 0);
        // output projection and residual
        x = x.add(Ops.linear(attn, wo));
        // SwiGLU MLP with residual
        return x.add(mlp(Ops.rmsNorm(x, postAttentionNorm, eps)));
    }

    /**
     * Several sequences, one new token each: x [B, dim], cos/sin [B, headDim] (each row its own position).
     * The projections and the MLP run batched; attention runs per sequence against its own cache.
     */
    NDArray forwardBatch(NDArray x, NDArray cos, NDArray sin, List<KvCache> caches, int layerIndex) {
        long b = x.getShape().get(0);
        // attention input norm
        NDArray h = Ops.rmsNorm(x, inputNorm, eps);
        // q, k, v for all sequences: [B, heads, headDim]
        NDArray q = Ops.linear(h, wq).reshape(b, heads, headDim);
        NDArray k = Ops.linear(h, wk).reshape(b, kvHeads, headDim);
        NDArray v = Ops.linear(h, wv).reshape(b, kvHeads, headDim);
        // rotary positions, one per row
        NDArray c = cos.expandDims(1);
        NDArray s = sin.expandDims(1);
        q = RotaryEmbedding.apply(q, c, s);
        k = RotaryEmbedding.apply(k, c, s);
        // per-sequence attention against its own cache
        NDList outs = new NDList();
        for (int i = 0; i < b; i++) {
            KvCache cache = caches.get(i);
            NDArray[] kv = cache.append(layerIndex, k.get(i).expandDims(1), v.get(i).expandDims(1));
            NDArray qi = q.get(i).expandDims(1);
            outs.add(Ops.attention(qi, kv[0], kv[1], 1.0 / Math.sqrt(headDim), true, cache.length()));
        }
        NDArray attn = outs.size() == 1 ? outs.get(0) : ai.djl.ndarray.NDArrays.concat(outs, 0);
        // output projection and residual
        x = x.add(Ops.linear(attn, wo));
        // SwiGLU MLP with residual
        return x.add(mlp(Ops.rmsNorm(x, postAttentionNorm, eps)));
    }

    private NDArray mlp(NDArray h) {
        return Ops.linear(Ops.silu(Ops.linear(h, wGate)).mul(Ops.linear(h, wUp)), wDown);
    }
}
