package dev.omnicall.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.omnicall.model.config.OmniConfig;
import dev.omnicall.model.config.OmniConfig.CtcDecoderSpec;
import dev.omnicall.model.io.TensorSource;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The streaming speech decoder (paper §2.4): each LLM output state is repeated λ times, projected,
 * run through causal Llama layers and classified into units + blank; greedy labels are collapsed CTC
 * style (merge repeats, then drop blanks).
 *
 * <p>The reference re-runs the decoder over all states after every token. Here the decoder is causal
 * and incremental ({@link Stream} carries its own KV cache and the last label, so repeats merge across
 * token and chunk boundaries); {@link #offline} is the whole-sequence pass that tests compare it with.
 */
public final class CtcUnitDecoder {
    static final String PREFIX = "speech_generator.";

    final NDArray inputProj; // [ctcDim, llmDim]
    final NDArray inputProjBias; // [ctcDim]
    final List<LlamaLayer> layers; // spec.layers()
    final NDArray outputProj; // [units+1, ctcDim]
    final NDArray outputProjBias; // [units+1]
    private final CtcDecoderSpec spec;
    private final int upsample;
    private final int blank;
    private final RotaryEmbedding rope;
    private final DataType type;
    private final NDManager manager;

    CtcUnitDecoder(TensorSource src, NDManager m, DataType t, OmniConfig c) {
        this.spec = c.ctcDecoder();
        this.upsample = c.ctcUpsampleFactor();
        this.blank = c.ctcBlank();
        this.type = t;
        this.manager = m;
        this.rope = new RotaryEmbedding(spec.headDim(), c.rope());
        inputProj = src.load(m, PREFIX + "input_proj.weight", t, spec.dim(), c.hiddenSize());
        inputProjBias = src.load(m, PREFIX + "input_proj.bias", t, spec.dim());
        layers = new ArrayList<>();
        for (int i = 0; i < spec.layers(); i++) {
            layers.add(new LlamaLayer(src, m, t, PREFIX + "layers." + i + ".", spec.dim(), spec.heads(),
                    spec.heads(), spec.ffn(), c.rmsNormEps()));
        }
        outputProj = src.load(m, PREFIX + "output_proj.weight", t, c.unitVocabSize() + 1L, spec.dim());
        outputProjBias = src.load(m, PREFIX + "output_proj.bias", t, c.unitVocabSize() + 1L);
    }

    public int blank() {
        return blank;
    }

    public int upsampleFactor() {
        return upsample;
    }

    /**
     * A pool for this decoder's caches: {@code slots} streams of up to {@code frames} frames each (λ per token), for
     * {@link #newStream(KvPool)} and {@link #stepAll}.
     */
    public KvPool newPool(int slots, long frames) {
        return new KvPool(manager, layers.size(), spec.heads(), spec.headDim(), type, slots, frames);
    }

    /** Device bytes of one pool slot of {@code frames} frames. */
    public long poolSlotBytes(long frames) {
        return KvPool.slotBytes(layers.size(), spec.heads(), spec.headDim(), type, frames);
    }

    /** Per-turn decoding state. */
    public final class Stream implements AutoCloseable {
        private final SequenceCache cache;
        private final CtcCollapser collapser = new CtcCollapser(blank);
        private NDArray lastLogits; // [λ, units+1] of the latest step(), for dumps; null after a batched step

        private Stream(SequenceCache cache) {
            this.cache = cache;
        }

        /**
         * Feeds one LLM state [llmDim], or n consecutive states [n, llmDim] (same result as n calls);
         * returns the units they complete (possibly none).
         */
        public int[] step(NDArray llmStates) {
            long start = cache.length();
            long rows = llmStates.getShape().dimension() == 1 ? 1 : llmStates.getShape().get(0);
            long frames = rows * upsample;
            NDArray logits = Ops.scoped(() -> {
                // project once per state and repeat λ times (same rows as upsampling first)
                NDArray x = Ops.linear(llmStates.reshape(rows, -1), inputProj, inputProjBias).repeat(0, upsample);
                // causal layers over the new frames, with this turn's cache
                cache.reserve(frames);
                NDArray[] cs = rope.table(manager, RotaryEmbedding.range(start, frames), type);
                for (int i = 0; i < layers.size(); i++) {
                    x = layers.get(i).forward(x, cs[0], cs[1], cache, i, start);
                }
                // classify each frame into units + blank
                return Ops.linear(x, outputProj, outputProjBias).toType(DataType.FLOAT32, false);
            });
            ai.djl.ndarray.NDScope.unregister(logits);
            cache.advance(new long[(int) frames]);
            if (lastLogits != null) {
                lastLogits.close();
            }
            lastLogits = logits;
            // greedy labels, collapsed across step boundaries
            return collapser.push(argmaxRows(logits));
        }

        /** The logits [λ·n, units+1] of the latest {@link #step}; null after a batched {@link #stepAll}. */
        public NDArray lastLogits() {
            return lastLogits;
        }

        public int framesSeen() {
            return cache.length();
        }

        /** True when the stream's cache is a slot of a pool (it can step in a batch). */
        public boolean pooled() {
            return cache instanceof KvPool.Slot;
        }

        @Override
        public void close() {
            cache.close();
            if (lastLogits != null) {
                lastLogits.close();
                lastLogits = null;
            }
        }
    }

    /** A stream with a cache of its own (grows by doubling). */
    public Stream newStream() {
        return new Stream(new KvCache(manager, layers.size(), spec.heads(), spec.headDim(), type, 64L * upsample));
    }

    /** A stream in a slot of pool (from {@link #newPool}), or with a cache of its own when every slot is taken. */
    public Stream newStream(KvPool pool) {
        KvPool.Slot slot = pool.acquire();
        return slot == null ? newStream() : new Stream(slot);
    }

    /**
     * One LLM state [llmDim] (1-D) for each stream, all in one forward: the streams whose caches are slots of one pool
     * step together (one write and one batched causal attention per layer for all of them: the native operations
     * do not depend on how many); any others step alone ({@link Stream#step}). Returns each stream's new units, in
     * the order given; the same units as stepping each stream alone.
     */
    public int[][] stepAll(List<Stream> streams, List<NDArray> states) {
        int n = streams.size();
        if (states.size() != n) {
            throw new IllegalArgumentException(states.size() + " states for " + n + " streams");
        }
        int[][] out = new int[n][];
        KvPool pool = null;
        List<Integer> together = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            if (streams.get(i).cache instanceof KvPool.Slot s && (pool == null || s.pool() == pool)) {
                pool = s.pool();
                together.add(i);
            } else {
                out[i] = streams.get(i).step(states.get(i));
            }
        }
        if (together.isEmpty()) {
            return out;
        }
        int b = together.size();
        long lam = upsample;
        long[] slots = new long[b];
        long[] positions = new long[(int) (b * lam)];
        long span = 0;
        for (int j = 0; j < b; j++) {
            KvPool.Slot slot = (KvPool.Slot) streams.get(together.get(j)).cache;
            slot.reserve(lam);
            slots[j] = slot.index();
            for (int f = 0; f < lam; f++) {
                positions[(int) (j * lam + f)] = slot.length() + f;
            }
            span = Math.max(span, slot.length() + lam);
        }
        // frame f of row j sees positions 0..length_j + f
        float[] mask = new float[(int) (b * lam * span)];
        for (int j = 0; j < b; j++) {
            for (int f = 0; f < lam; f++) {
                int rowStart = (int) ((j * lam + f) * span);
                Arrays.fill(mask, rowStart + (int) positions[(int) (j * lam + f)] + 1, rowStart + (int) span,
                        Float.NEGATIVE_INFINITY);
            }
        }
        KvPool p = pool;
        long spanFinal = span;
        NDArray logits = Ops.scoped(() -> {
            // project each state once and repeat λ times: [B*λ, ctcDim], row j's frames consecutive
            NDList rows = new NDList();
            for (int j : together) {
                rows.add(states.get(j));
            }
            NDArray stacked = NDArrays.stack(rows, 0); // one native op for the B states [llmDim]
            NDArray x = Ops.linear(stacked, inputProj, inputProjBias).repeat(0, lam);
            NDArray[] cs = rope.table(manager, positions, type);
            LlamaLayer.PooledFrames frames = new LlamaLayer.PooledFrames(p, b, lam, manager.create(slots),
                    manager.create(slots, new ai.djl.ndarray.types.Shape(b, 1)),
                    manager.create(positions, new ai.djl.ndarray.types.Shape(b, lam)),
                    manager.create(mask, new ai.djl.ndarray.types.Shape(b, 1, 1, lam, spanFinal)), spanFinal);
            for (int i = 0; i < layers.size(); i++) {
                x = layers.get(i).forwardFrames(x, cs[0], cs[1], i, frames);
            }
            // classify each frame into units + blank
            return Ops.linear(x, outputProj, outputProjBias).toType(DataType.FLOAT32, false);
        });
        long[] labels;
        try {
            labels = argmaxRows(logits);
        } finally {
            logits.close();
        }
        for (int j = 0; j < b; j++) {
            Stream st = streams.get(together.get(j));
            st.cache.advance(new long[(int) lam]);
            if (st.lastLogits != null) {
                st.lastLogits.close();
                st.lastLogits = null;
            }
            out[together.get(j)] = st.collapser.push(Arrays.copyOfRange(labels, (int) (j * lam), (int) ((j + 1) * lam)));
        }
        return out;
    }

    /** Result of the whole-sequence pass. */
    public record Offline(NDArray logits, long[] labels, int[] units) {
    }

    /** The reference: all states [N, llmDim] at once, λN frames, one causal pass, one collapse. */
    public Offline offline(NDArray llmStates) {
        long n = llmStates.getShape().get(0);
        NDArray logits = Ops.scoped(() -> {
            // upsample: frame t takes state floor(t/λ), then project
            NDArray x = Ops.linear(llmStates.repeat(0, upsample), inputProj, inputProjBias);
            // causal layers over all frames, no cache
            NDArray[] cs = rope.table(manager, RotaryEmbedding.range(0, n * upsample), type);
            for (int i = 0; i < layers.size(); i++) {
                x = layers.get(i).forward(x, cs[0], cs[1], null, i, 0);
            }
            // classify
            return Ops.linear(x, outputProj, outputProjBias).toType(DataType.FLOAT32, false);
        });
        long[] labels = argmaxRows(logits);
        return new Offline(logits, labels, CtcCollapser.collapse(labels, blank));
    }

    private static long[] argmaxRows(NDArray logits) {
        try (NDArray idx = logits.argMax(-1)) {
            return idx.toType(DataType.INT64, false).toLongArray();
        }
    }

    /** Greedy CTC collapse that keeps the previous label between calls. */
    public static final class CtcCollapser {
        private final int blank;
        private long previous = -1;

        public CtcCollapser(int blank) {
            this.blank = blank;
        }

        /** Merge repeats (also with the last label of the previous call), then drop blanks. */
        public int[] push(long[] labels) {
            int[] out = new int[labels.length];
            int n = 0;
            for (long label : labels) {
                if (label != previous && label != blank) {
                    out[n++] = (int) label;
                }
                previous = label;
            }
            return Arrays.copyOf(out, n);
        }

        public static int[] collapse(long[] labels, int blank) {
            return new CtcCollapser(blank).push(labels);
        }
    }
}
