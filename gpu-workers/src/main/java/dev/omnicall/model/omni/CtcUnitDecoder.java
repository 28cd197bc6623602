package dev.omnicall.model.omni;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import dev.omnicall.model.KvPool;
import dev.omnicall.model.LlamaLayers;
import dev.omnicall.model.Ops;
import dev.omnicall.model.SequenceCache;
import dev.omnicall.model.io.TensorSource;
import dev.omnicall.model.omni.OmniConfig.CtcDecoderSpec;
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
    /** The decoder's tensor-name prefix in the LLaMA-Omni shards. */
    public static final String PREFIX = "speech_generator.";

    final NDArray inputProj; // [ctcDim, llmDim]
    final NDArray inputProjBias; // [ctcDim]
    final LlamaLayers layers; // spec.layers() causal Llama layers, d=ctcDim, heads = KV heads
    final NDArray outputProj; // [units+1, ctcDim]
    final NDArray outputProjBias; // [units+1]
    private final int upsample;
    private final int blank;

    /** The decoder of config c with its weights from src ({@value #PREFIX}*); a missing or misshaped tensor names itself. */
    public CtcUnitDecoder(TensorSource src, NDManager m, DataType t, OmniConfig c) {
        CtcDecoderSpec spec = c.ctcDecoder();
        this.upsample = c.ctcUpsampleFactor();
        this.blank = c.ctcBlank();
        inputProj = src.load(m, PREFIX + "input_proj.weight", t, spec.dim(), c.hiddenSize());
        inputProjBias = src.load(m, PREFIX + "input_proj.bias", t, spec.dim());
        layers = LlamaLayers.load(src, m, t, new LlamaLayers.Spec(PREFIX + "layers.", spec.layers(), spec.dim(),
                spec.heads(), spec.heads(), spec.ffn(), c.rmsNormEps(), c.rope(), false));
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
     * {@link #newStream(KvPool)} and {@link #stepAll}. A slot need not hold a whole reply: size it for a typical one;
     * a stream that outgrows its slot moves to a cache of its own and goes on alone with the same units
     * ({@link Stream#outgrewSlot()}).
     */
    public KvPool newPool(int slots, long frames) {
        return layers.newPool(slots, frames);
    }

    /** Device bytes of one pool slot of {@code frames} frames. */
    public long poolSlotBytes(long frames) {
        return layers.poolSlotBytes(frames);
    }

    /** Per-turn decoding state. */
    public final class Stream implements AutoCloseable {
        private SequenceCache cache; // a pool slot, or a cache of its own (from the start, or once it outgrew the slot)
        private boolean outgrewSlot;
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
            long rows = llmStates.getShape().dimension() == 1 ? 1 : llmStates.getShape().get(0);
            long frames = rows * upsample;
            makeRoom(frames);
            NDArray logits = Ops.scoped(() -> {
                // project once per state and repeat λ times (same rows as upsampling first)
                NDArray x = Ops.linear(llmStates.reshape(rows, -1), inputProj, inputProjBias).repeat(0, upsample);
                // causal layers over the new frames, appended to this turn's cache (frames have no token identity)
                x = layers.forward(x, cache, new long[(int) frames]);
                // classify each frame into units + blank
                return Ops.linear(x, outputProj, outputProjBias).toType(DataType.FLOAT32, false);
            });
            NDScope.unregister(logits);
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

        /** True when the stream started in a pool slot and outgrew it (it now steps alone on a cache of its own). */
        public boolean outgrewSlot() {
            return outgrewSlot;
        }

        /**
         * Before frames more: a stream whose slot cannot hold them moves to a cache of its own (its frames copied
         * once, the slot freed; room for twice what it then holds, growing by doubling), so a reply longer than a
         * slot goes on with the same units.
         */
        private void makeRoom(long frames) {
            if (cache instanceof KvPool.Slot slot && slot.length() + frames > slot.pool().capacity()) {
                cache = slot.moveToCacheOfItsOwn(2 * (slot.length() + frames));
                outgrewSlot = true;
            }
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
        return new Stream(layers.newCache(64L * upsample));
    }

    /** A stream in a slot of pool (from {@link #newPool}), or with a cache of its own when every slot is taken. */
    public Stream newStream(KvPool pool) {
        KvPool.Slot slot = pool.acquire();
        return slot == null ? newStream() : new Stream(slot);
    }

    /**
     * One LLM state [llmDim] (1-D) for each stream, all in one forward: the streams whose caches are slots of one pool
     * step together (one write and one batched causal attention per layer for all of them: the native operations
     * do not depend on how many); any others step alone ({@link Stream#step}), among them a stream whose slot is full,
     * which first moves to a cache of its own. Returns each stream's new units, in the order given; the same units as
     * stepping each stream alone.
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
            streams.get(i).makeRoom(upsample);
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
        List<KvPool.Slot> slots = new ArrayList<>(b);
        NDList rows = new NDList();
        for (int j : together) {
            slots.add((KvPool.Slot) streams.get(j).cache);
            rows.add(states.get(j));
        }
        NDArray logits = Ops.scoped(() -> {
            // project each state once and repeat λ times: [B*λ, ctcDim], row j's frames consecutive
            NDArray stacked = NDArrays.stack(rows, 0); // one native op for the B states [llmDim]
            NDArray x = Ops.linear(stacked, inputProj, inputProjBias).repeat(0, lam);
            // causal layers over every stream's new frames, in one pass over their pool slots
            x = layers.forwardPooled(x, slots, lam);
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
        NDArray logits = Ops.scoped(() -> {
            // upsample: frame t takes state floor(t/λ), then project
            NDArray x = Ops.linear(llmStates.repeat(0, upsample), inputProj, inputProjBias);
            // causal layers over all frames, no cache
            x = layers.forwardUncached(x);
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
