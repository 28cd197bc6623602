package dev.omnicall.model;

import ai.djl.ndarray.NDArray;
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

    /** Per-turn decoding state. */
    public final class Stream implements AutoCloseable {
        private final KvCache cache = new KvCache(manager, layers.size(), spec.heads(), spec.headDim(), type, 64L * upsample);
        private final CtcCollapser collapser = new CtcCollapser(blank);
        private NDArray lastLogits; // [λ, units+1] of the latest step, for dumps

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

        public NDArray lastLogits() {
            return lastLogits;
        }

        public int framesSeen() {
            return cache.length();
        }

        @Override
        public void close() {
            cache.close();
            if (lastLogits != null) {
                lastLogits.close();
            }
        }
    }

    public Stream newStream() {
        return new Stream();
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
