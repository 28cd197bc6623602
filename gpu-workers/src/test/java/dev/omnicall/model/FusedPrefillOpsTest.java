package dev.omnicall.model;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;
import dev.omnicall.model.omni.OmniModel;
import dev.omnicall.model.tools.NativeOps;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * What carrying a newcomer's prompt rows in a decode step saves, as a count (not a timing): libtorch's profiler records
 * the ATen calls of a pooled decode step with P prompt rows in its forward ({@link LlamaModel#decodeWithPrompt}), and of
 * the same step followed by the same rows as a slice of their own ({@link LlamaModel#decode} + {@link LlamaModel#forward},
 * the chunked prefill before). The fused step reads every weight matrix once (as many aten::t calls as a step alone: a
 * linear is one aten::t of its weight and one aten::matmul, nothing else here calls aten::t) where step + slice read
 * each twice. Counted with {@link NativeOps#byName}.
 */
class FusedPrefillOpsTest {
    private final OmniModel model = TinyModels.model();
    private final LlamaModel llm = model.llm();

    private static long total(Map<String, double[]> ops) {
        return ops.values().stream().mapToLong(a -> (long) a[0]).sum();
    }

    private static long calls(Map<String, double[]> ops, String name) {
        double[] a = ops.get(name);
        return a == null ? 0 : (long) a[0];
    }

    /** Counts of {fused step, step alone, slice alone}: top-level ops, then aten::t calls (weight matrices multiplied). */
    private long[][] counts(int b, int promptRows) {
        SplittableRandom r = new SplittableRandom(b * 31L + promptRows);
        try (KvPool pool = llm.newPool(b + 1, 160); NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            List<SequenceCache> rows = new ArrayList<>();
            for (int i = 0; i < b; i++) {
                long[] prompt = r.longs(4 + r.nextInt(20), 0, 256).toArray();
                KvPool.Slot s = pool.acquire();
                llm.forward(llm.embed(prompt), s, prompt);
                rows.add(s);
            }
            // the newcomer: 10 prompt rows already in, the next chunk's inputs ready (TurnStart holds them)
            KvPool.Slot newcomer = pool.acquire();
            long[] head = r.longs(10, 0, 256).toArray();
            llm.forward(llm.embed(head), newcomer, head);
            long[] tokens = r.longs(b, 0, 256).toArray();
            long[] keys = r.longs(promptRows, 0, 256).toArray();
            NDArray inputs = llm.embed(keys);
            Runnable fused = () -> llm.decodeWithPrompt(tokens, rows, inputs, newcomer, keys);
            Runnable step = () -> llm.decode(tokens, rows);
            Runnable slice = () -> llm.forward(inputs, newcomer, keys);
            fused.run(); // warm
            step.run();
            slice.run();
            Map<String, double[]> f = NativeOps.byName(fused);
            Map<String, double[]> d = NativeOps.byName(step);
            Map<String, double[]> s = NativeOps.byName(slice);
            return new long[][] {{total(f), total(d), total(s)},
                    {calls(f, "aten::t"), calls(d, "aten::t"), calls(s, "aten::t")}};
        }
    }

    @Test
    void shouldReadEveryWeightOnceForADecodeStepAndAPromptChunkTogether() {
        int layers = model.config().numHiddenLayers();
        // Given 3 speaking turns in a pool and a newcomer with 8 prompt rows to go
        long[][] c = counts(3, 8);
        System.out.printf("native ops, 3 rows + 8 prompt rows: fused %d, step %d + slice %d = %d; weight matrices (aten::t) fused %d,"
                + " step %d + slice %d%n", c[0][0], c[0][1], c[0][2], c[0][1] + c[0][2], c[1][0], c[1][1], c[1][2]);
        // When they run as one fused step, or as the step and then a slice
        // Then the fused step calls each layer's 7 projections and the LM head once, as the step alone does; the step
        // and the slice call them twice
        assertThat(c[1][1]).isEqualTo(7L * layers + 1);
        assertThat(c[1][0]).isEqualTo(c[1][1]);
        assertThat(c[1][1] + c[1][2]).isEqualTo(2 * (7L * layers + 1));
        // and it issues fewer native ops than the two apart: the prompt's attention is added, its norms, projections,
        // MLP and rotary tables are not
        assertThat(c[0][0]).isLessThan(c[0][1] + c[0][2]).isGreaterThan(c[0][1]);
        // and the count depends on neither the rows carried nor the turns speaking
        assertThat(counts(3, 24)[0][0]).isEqualTo(c[0][0]);
        assertThat(counts(6, 8)[0][0]).isEqualTo(c[0][0]);
    }
}
