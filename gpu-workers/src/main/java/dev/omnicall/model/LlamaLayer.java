package dev.omnicall.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import dev.omnicall.model.io.TensorSource;
import java.util.List;

/**
 * One Llama decoder layer (pre-RMSNorm attention with RoPE and grouped-query heads, then a pre-RMSNorm
 * SwiGLU MLP). The LLM has 32 of them; the CTC speech decoder has 2 with the same tensor names under
 * its own prefix. Qwen2's layer is the same with biases on the q, k and v projections ({@code attentionBias}).
 */
final class LlamaLayer {
    final NDArray wq; // [heads*headDim, dim]
    final NDArray wk; // [kvHeads*headDim, dim]
    final NDArray wv; // [kvHeads*headDim, dim]
    final NDArray bq; // [heads*headDim], null without attention bias (Llama)
    final NDArray bk; // [kvHeads*headDim], null without attention bias
    final NDArray bv; // [kvHeads*headDim], null without attention bias
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
        this(src, m, type, prefix, dim, heads, kvHeads, ffn, eps, false);
    }

    LlamaLayer(TensorSource src, NDManager m, DataType type, String prefix, int dim, int heads, int kvHeads,
            int ffn, double eps, boolean attentionBias) {
        this.heads = heads;
        this.kvHeads = kvHeads;
        this.headDim = dim / heads;
        this.eps = eps;
        wq = src.load(m, prefix + "self_attn.q_proj.weight", type, (long) heads * headDim, dim);
        wk = src.load(m, prefix + "self_attn.k_proj.weight", type, (long) kvHeads * headDim, dim);
        wv = src.load(m, prefix + "self_attn.v_proj.weight", type, (long) kvHeads * headDim, dim);
        bq = attentionBias ? src.load(m, prefix + "self_attn.q_proj.bias", type, (long) heads * headDim) : null;
        bk = attentionBias ? src.load(m, prefix + "self_attn.k_proj.bias", type, (long) kvHeads * headDim) : null;
        bv = attentionBias ? src.load(m, prefix + "self_attn.v_proj.bias", type, (long) kvHeads * headDim) : null;
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
    NDArray forward(NDArray x, NDArray cos, NDArray sin, SequenceCache cache, int layerIndex, long start) {
        long t = x.getShape().get(0);
        // attention input norm
        NDArray h = Ops.rmsNorm(x, inputNorm, eps);
        // q, k, v projections, heads first: [heads, T, headDim]
        NDArray q = Ops.linear(h, wq, bq).reshape(t, heads, headDim).transpose(1, 0, 2);
        NDArray k = Ops.linear(h, wk, bk).reshape(t, kvHeads, headDim).transpose(1, 0, 2);
        NDArray v = Ops.linear(h, wv, bv).reshape(t, kvHeads, headDim).transpose(1, 0, 2);
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
        NDArray q = Ops.linear(h, wq, bq).reshape(b, heads, headDim);
        NDArray k = Ops.linear(h, wk, bk).reshape(b, kvHeads, headDim);
        NDArray v = Ops.linear(h, wv, bv).reshape(b, kvHeads, headDim);
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

    /**
     * The rows of a decode step that live in one {@link KvPool}: the first {@code count} rows of the batch, their
     * slots and write positions [count] (int64), the window of slots they read through one view (null: a gather,
     * {@link KvPool#window}), where each row lies in it [count] (int64; null when the rows are the window in order)
     * and a zero buffer for the window's queries [W, heads, headDim] (null likewise), the additive mask [W, 1, 1, span]
     * (row of a row's slot: 0 up to its new position, -inf after; row of a slot between: 0, its result is dropped)
     * and span, the longest row's length after the step.
     */
    record PooledRows(KvPool pool, int count, NDArray slots, KvPool.Window window, NDArray rowInWindow,
            NDArray windowQueries, NDArray positions, NDArray mask, long span) {
    }

    /**
     * One decode step: x [B, dim], cos/sin [B, headDim] (each row its own position). The first
     * {@code pooled.count()} rows live in a pool and attend together (one write, one read: a view or a gather, one
     * batched attention: the same native operations for 1 row or 64); any further rows attend one by one against their
     * own {@link SequenceCache} (a sequence that did not fit the pool). Projections and MLP run batched.
     */
    NDArray forwardDecode(NDArray x, NDArray cos, NDArray sin, List<? extends SequenceCache> caches,
            int layerIndex, PooledRows pooled) {
        return forwardDecode(x, cos, sin, caches, layerIndex, pooled, null);
    }

    /**
     * A newcomer's prompt rows riding along with a decode step: the last {@code rows} rows of the step's x, appended
     * to {@code cache} (not one of the decode rows' caches) at positions start..start+rows-1.
     */
    record PromptRows(SequenceCache cache, long start, long rows) {
    }

    /**
     * {@link #forwardDecode(NDArray, NDArray, NDArray, List, int, PooledRows)} with a newcomer's prompt rows after the
     * B decode rows (prompt null: none): x [B+P, dim], cos/sin [B+P, headDim]. The norms, projections and MLP run over
     * the B+P rows as one matrix (the layer's weights read once for both); attention splits: the decode rows as
     * without the prompt, the prompt rows causally over the newcomer's cache and their own chunk.
     */
    NDArray forwardDecode(NDArray x, NDArray cos, NDArray sin, List<? extends SequenceCache> caches,
            int layerIndex, PooledRows pooled, PromptRows prompt) {
        long n = x.getShape().get(0);
        long b = prompt == null ? n : n - prompt.rows();
        // attention input norm
        NDArray h = Ops.rmsNorm(x, inputNorm, eps);
        // q, k, v for all rows (the prompt's too): [B+P, heads, headDim]
        NDArray q = Ops.linear(h, wq, bq).reshape(n, heads, headDim);
        NDArray k = Ops.linear(h, wk, bk).reshape(n, kvHeads, headDim);
        NDArray v = Ops.linear(h, wv, bv).reshape(n, kvHeads, headDim);
        // rotary positions, one per row
        NDArray c = cos.expandDims(1);
        NDArray s = sin.expandDims(1);
        q = RotaryEmbedding.apply(q, c, s);
        k = RotaryEmbedding.apply(k, c, s);
        double scale = 1.0 / Math.sqrt(headDim);
        NDList outs = new NDList();
        int p = pooled == null ? 0 : pooled.count();
        if (p > 0) {
            // the pooled rows: write the new keys/values of every row at once, attend over their slots
            NDArray qp = p == n ? q : q.get(new NDIndex(":{}", p));
            NDArray kp = p == n ? k : k.get(new NDIndex(":{}", p));
            NDArray vp = p == n ? v : v.get(new NDIndex(":{}", p));
            NDArray[] kv = pooled.pool().writeAndGather(layerIndex, pooled.slots(), pooled.window(),
                    pooled.positions(), kp, vp, pooled.span());
            long w = kv[0].getShape().get(0);
            if (pooled.rowInWindow() != null) {
                // each row's query at its slot's place in the window; the slots between keep zero queries
                pooled.windowQueries().set(new NDIndex("{}", pooled.rowInWindow()), qp);
                qp = pooled.windowQueries();
            }
            long group = heads / kvHeads;
            // [W, KV, G, d] x [W, KV, d, S] -> [W, KV, G, S], in float32, masked per row
            NDArray scores = qp.reshape(w, kvHeads, group, headDim).matMul(kv[0].transpose(0, 1, 3, 2))
                    .toType(DataType.FLOAT32, false).mul(scale).add(pooled.mask());
            NDArray probs = scores.softmax(-1).toType(x.getDataType(), false);
            NDArray attn = probs.matMul(kv[1]).reshape(w, (long) heads * headDim);
            // the rows' own results (a window's slots between are dropped)
            outs.add(pooled.rowInWindow() == null ? attn : attn.get(new NDIndex("{}", pooled.rowInWindow())));
        }
        // the rest: per sequence against its own cache
        for (int i = p; i < b; i++) {
            SequenceCache cache = caches.get(i);
            NDArray[] kv = cache.append(layerIndex, k.get(i).expandDims(1), v.get(i).expandDims(1));
            NDArray qi = q.get(i).expandDims(1);
            outs.add(Ops.attention(qi, kv[0], kv[1], scale, true, cache.length()));
        }
        if (prompt != null) {
            // the prompt rows, heads first [heads, P, headDim]: appended to the newcomer's cache, causal over it
            NDIndex rows = new NDIndex("{}:", b);
            NDArray[] kv = prompt.cache().append(layerIndex, k.get(rows).transpose(1, 0, 2),
                    v.get(rows).transpose(1, 0, 2));
            outs.add(Ops.attention(q.get(rows).transpose(1, 0, 2), kv[0], kv[1], scale, true, prompt.start()));
        }
        NDArray attn = outs.size() == 1 ? outs.get(0) : ai.djl.ndarray.NDArrays.concat(outs, 0);
        // output projection and residual
        x = x.add(Ops.linear(attn, wo));
        // SwiGLU MLP with residual
        return x.add(mlp(Ops.rmsNorm(x, postAttentionNorm, eps)));
    }

    /**
     * Several sequences of one {@link KvPool}, T new rows each (the CTC decoder's λ frames per token): the rows' slots
     * [B] and as a column [B, 1], the window of slots they read through one view (null: a gather,
     * {@link KvPool#window}), where each row lies in it [B] (null when the rows are the window in order) and a zero
     * buffer for the window's queries [W, T, heads, headDim] (null likewise), their write positions [B, T] (row b's
     * from its length on), the additive causal mask [W, 1, 1, T, span] (frame t of row b sees positions 0..length_b +
     * t; a slot between sees everything, its result is dropped) and span, the longest row's length after the step.
     */
    record PooledFrames(KvPool pool, int count, long frames, NDArray slots, NDArray slotColumn, KvPool.Window window,
            NDArray rowInWindow, NDArray windowQueries, NDArray positions, NDArray mask, long span) {
    }

    /**
     * x [B*T, dim] (row b's T new rows consecutive), cos/sin [B*T, headDim]: every row's new keys and values written
     * to its slot with one index-put, then one batched causal attention over the B slots; projections and MLP
     * batched. The native operations do not depend on B.
     */
    NDArray forwardFrames(NDArray x, NDArray cos, NDArray sin, int layerIndex, PooledFrames rows) {
        long b = rows.count();
        long t = rows.frames();
        // attention input norm
        NDArray h = Ops.rmsNorm(x, inputNorm, eps);
        // q, k, v: [B, T, heads, headDim]
        NDArray q = Ops.linear(h, wq, bq).reshape(b, t, heads, headDim);
        NDArray k = Ops.linear(h, wk, bk).reshape(b, t, kvHeads, headDim);
        NDArray v = Ops.linear(h, wv, bv).reshape(b, t, kvHeads, headDim);
        // rotary positions, one per row and frame
        NDArray c = cos.reshape(b, t, 1, headDim);
        NDArray s = sin.reshape(b, t, 1, headDim);
        q = RotaryEmbedding.apply(q, c, s);
        k = RotaryEmbedding.apply(k, c, s);
        // write every row's frames, read the window's slots (or gather the B rows'): [W, KV, span, d]
        NDArray[] kv = rows.pool().writeFramesAndGather(layerIndex, rows.slotColumn(), rows.positions(), rows.slots(),
                rows.window(), k, v, rows.span());
        long w = kv[0].getShape().get(0);
        if (rows.rowInWindow() != null) {
            // each row's queries at its slot's place in the window; the slots between keep zero queries
            rows.windowQueries().set(new NDIndex("{}", rows.rowInWindow()), q);
            q = rows.windowQueries();
        }
        long group = heads / kvHeads;
        // [W, KV, G, T, d] x [W, KV, 1, d, S] -> [W, KV, G, T, S], in float32, causal per row
        NDArray qh = q.reshape(w, t, kvHeads, group, headDim).transpose(0, 2, 3, 1, 4);
        NDArray scores = qh.matMul(kv[0].expandDims(2).transpose(0, 1, 2, 4, 3)).toType(DataType.FLOAT32, false)
                .mul(1.0 / Math.sqrt(headDim)).add(rows.mask());
        NDArray probs = scores.softmax(-1).toType(x.getDataType(), false);
        // [W, KV, G, T, d] -> [W, T, heads*d], the rows' own (a window's slots between dropped) -> [B*T, heads*d]
        NDArray attn = probs.matMul(kv[1].expandDims(2)).transpose(0, 3, 1, 2, 4).reshape(w, t, (long) heads * headDim);
        if (rows.rowInWindow() != null) {
            attn = attn.get(new NDIndex("{}", rows.rowInWindow()));
        }
        attn = attn.reshape(b * t, (long) heads * headDim);
        // output projection and residual
        x = x.add(Ops.linear(attn, wo));
        // SwiGLU MLP with residual
        return x.add(mlp(Ops.rmsNorm(x, postAttentionNorm, eps)));
    }

    private NDArray mlp(NDArray h) {
        return Ops.linear(Ops.silu(Ops.linear(h, wGate)).mul(Ops.linear(h, wUp)), wDown);
    }
}
