package dev.omnicall.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.omnicall.model.config.RopeSettings;
import dev.omnicall.model.io.TensorSource;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A stack of causal Llama decoder layers with their rotary embedding, and nothing around it (no token embedding,
 * no final norm, no head): the part of the shared decoder-only transformer that a model family builds its own
 * decoder on. {@link LlamaModel} is one (token embedding + these + final norm + LM head; the LLMs and LLaMA-Omni2's
 * TTS LM), LLaMA-Omni's CTC speech decoder another (2 layers under {@code speech_generator.layers.}, its own input
 * and output projections around them).
 *
 * <p>This is the whole public surface a family gets of the transformer's internals: load the layers, make caches
 * and pools for them, and run rows through them three ways: appended to one sequence's cache ({@link #forward}),
 * without a cache ({@link #forwardUncached}, the whole-sequence reference), or T new rows for each of several
 * sequences in one pool in one pass ({@link #forwardPooled}: one write and one batched causal attention per layer,
 * the native operations do not depend on how many sequences). The layers, the rotary tables and the caches'
 * reserve/append/advance steps stay inside this package.
 */
public final class LlamaLayers {
    private final List<LlamaLayer> layers; // spec.layers()
    private final RotaryEmbedding rope;
    private final Spec spec;
    private final DataType type;
    private final NDManager manager;

    /**
     * The stack's shape: tensor names {@code prefix + i + ".self_attn.q_proj.weight"} etc. for layer i, model width,
     * attention heads and KV heads (grouped-query when fewer), MLP width, RMSNorm eps, RoPE settings, and whether q,
     * k and v carry biases (Qwen2: yes; Llama: no).
     */
    public record Spec(String prefix, int layers, int dim, int heads, int kvHeads, int ffn, double rmsNormEps,
            RopeSettings rope, boolean attentionBias) {

        public Spec {
            require(prefix != null, "prefix must not be null (use \"\" for none)");
            require(layers > 0 && dim > 0 && ffn > 0, "layers, dim and ffn must be positive, got " + layers + ", "
                    + dim + ", " + ffn);
            require(heads > 0 && dim % heads == 0, "dim " + dim + " is not divisible by heads " + heads);
            require(kvHeads > 0 && heads % kvHeads == 0, "heads " + heads + " is not a multiple of kv heads " + kvHeads);
            require((dim / heads) % 2 == 0, "head dim " + dim / heads + " must be even for RoPE");
            require(rmsNormEps > 0, "rms_norm_eps must be positive, got " + rmsNormEps);
            require(rope != null && rope.theta() > 0, "rope_theta must be positive");
        }

        public int headDim() {
            return dim / heads;
        }

        private static void require(boolean ok, String message) {
            if (!ok) {
                throw new IllegalArgumentException("decoder layers spec: " + message);
            }
        }
    }

    private LlamaLayers(TensorSource src, NDManager m, DataType type, Spec s) {
        this.spec = s;
        this.type = type;
        this.manager = m;
        this.rope = new RotaryEmbedding(s.headDim(), s.rope());
        this.layers = new ArrayList<>();
        for (int i = 0; i < s.layers(); i++) {
            layers.add(new LlamaLayer(src, m, type, s.prefix() + i + ".", s.dim(), s.heads(), s.kvHeads(), s.ffn(),
                    s.rmsNormEps(), s.attentionBias()));
        }
    }

    /** The layers of {@code spec} with their weights from src; a missing or misshaped tensor names itself. */
    public static LlamaLayers load(TensorSource src, NDManager m, DataType type, Spec spec) {
        return new LlamaLayers(src, m, type, spec);
    }

    public Spec spec() {
        return spec;
    }

    /** Layers in the stack (for this package's decode paths, which drive the layers one by one). */
    int size() {
        return layers.size();
    }

    LlamaLayer layer(int i) {
        return layers.get(i);
    }

    /** cos and sin [positions.length, headDim] for these absolute positions, in the stack's type. */
    NDArray[] table(long[] positions) {
        return rope.table(manager, positions, type);
    }

    /** An empty cache of its own for one sequence (grows by doubling). */
    public KvCache newCache(long initialCapacity) {
        return new KvCache(manager, layers.size(), spec.kvHeads(), spec.headDim(), type, initialCapacity);
    }

    /** A pool of {@code slots} sequences of up to {@code capacity} positions each, allocated now on the device. */
    public KvPool newPool(int slots, long capacity) {
        return new KvPool(manager, layers.size(), spec.kvHeads(), spec.headDim(), type, slots, capacity);
    }

    /** Device bytes of one pool slot of {@code capacity} positions. */
    public long poolSlotBytes(long capacity) {
        return KvPool.slotBytes(layers.size(), spec.kvHeads(), spec.headDim(), type, capacity);
    }

    /**
     * One sequence: x [T, dim] at positions cache.length()..+T-1, appended to the cache as {@code keys} (what each
     * position holds; see {@link SequenceCache#positionKeys()}). Returns the last layer's output [T, dim].
     */
    public NDArray forward(NDArray x, SequenceCache cache, long[] keys) {
        long t = x.getShape().get(0);
        if (keys.length != t) {
            throw new IllegalArgumentException(keys.length + " position keys for " + t + " rows");
        }
        long start = cache.length();
        NDArray out = Ops.scoped(() -> {
            // room for the new rows
            cache.reserve(t);
            // rotary tables for the new positions
            NDArray[] cs = rope.table(manager, RotaryEmbedding.range(start, t), type);
            // the layers over the new rows, appending to the cache
            NDArray h = x;
            for (int i = 0; i < layers.size(); i++) {
                h = layers.get(i).forward(h, cs[0], cs[1], cache, i, start);
            }
            return h;
        });
        cache.advance(keys);
        return out;
    }

    /** The whole-sequence reference: x [T, dim] at positions 0..T-1, causal, no cache. Returns [T, dim]. */
    public NDArray forwardUncached(NDArray x) {
        long t = x.getShape().get(0);
        return Ops.scoped(() -> {
            NDArray[] cs = rope.table(manager, RotaryEmbedding.range(0, t), type);
            NDArray h = x;
            for (int i = 0; i < layers.size(); i++) {
                h = layers.get(i).forward(h, cs[0], cs[1], null, i, 0);
            }
            return h;
        });
    }

    /**
     * Several sequences of one pool, {@code rowsEach} new rows each: x [B*T, dim] with sequence b's T rows
     * consecutive, each sequence's rows at positions from its slot's length on (row t of sequence b sees its
     * positions 0..length_b + t). Every row's keys and values are written with one index-put per layer and array,
     * then one batched causal attention runs over the B slots. Each slot then holds T more positions (key 0: rows
     * without a token identity). Returns [B*T, dim], in the order given.
     */
    public NDArray forwardPooled(NDArray x, List<KvPool.Slot> slots, long rowsEach) {
        int b = slots.size();
        if (b == 0 || rowsEach < 1) {
            throw new IllegalArgumentException("a pooled forward needs >= 1 sequence and >= 1 row each, got " + b
                    + " of " + rowsEach);
        }
        KvPool pool = slots.get(0).pool();
        long t = rowsEach;
        long[] slotIndex = new long[b];
        long[] positions = new long[(int) (b * t)];
        long span = 0;
        for (int j = 0; j < b; j++) {
            KvPool.Slot slot = slots.get(j);
            if (slot.pool() != pool) {
                throw new IllegalArgumentException("sequence " + j + " is a slot of another pool");
            }
            slot.reserve(t);
            slotIndex[j] = slot.index();
            for (int f = 0; f < t; f++) {
                positions[(int) (j * t + f)] = slot.length() + f;
            }
            span = Math.max(span, slot.length() + t);
        }
        // the slots the rows read through one view (theirs, and any between), or null: a gather of theirs
        KvPool.Window window = pool.window(slotIndex);
        long[] rowInWindow = window == null ? null : window.rowInWindow();
        long width = window == null ? b : window.width();
        // row f of sequence j sees positions 0..length_j + f; a slot between sees all (its result is dropped)
        float[] mask = new float[(int) (width * t * span)];
        for (int j = 0; j < b; j++) {
            long at = rowInWindow == null ? j : rowInWindow[j];
            for (int f = 0; f < t; f++) {
                int rowStart = (int) ((at * t + f) * span);
                Arrays.fill(mask, rowStart + (int) positions[(int) (j * t + f)] + 1, rowStart + (int) span,
                        Float.NEGATIVE_INFINITY);
            }
        }
        long spanFinal = span;
        NDArray out = Ops.scoped(() -> {
            NDArray[] cs = rope.table(manager, positions, type);
            LlamaLayer.PooledFrames rows = new LlamaLayer.PooledFrames(pool, b, t, manager.create(slotIndex),
                    manager.create(slotIndex, new Shape(b, 1)), window,
                    rowInWindow == null ? null : manager.create(rowInWindow),
                    rowInWindow == null ? null : manager.zeros(new Shape(width, t, spec.heads(), spec.headDim()), type),
                    manager.create(positions, new Shape(b, t)),
                    manager.create(mask, new Shape(width, 1, 1, t, spanFinal)), spanFinal);
            NDArray h = x;
            for (int i = 0; i < layers.size(); i++) {
                h = layers.get(i).forwardFrames(h, cs[0], cs[1], i, rows);
            }
            return h;
        });
        for (KvPool.Slot slot : slots) {
            slot.advance(new long[(int) t]);
        }
        return out;
    }
}
