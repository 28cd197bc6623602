package dev.omnicall.model;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;
import dev.omnicall.model.omni.CtcUnitDecoder;
import dev.omnicall.model.omni.OmniModel;
import dev.omnicall.model.tools.NativeOps;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The point of the pools, as a count (not a timing): libtorch's profiler records the ATen calls of one step, and a
 * pooled step makes as many for 2 sequences as for 7, while the per-sequence path makes more with every sequence.
 */
public class NativeOpsTest {
    private final OmniModel model = TinyModels.model();
    private final LlamaModel llm = model.llm();

    /**
     * Top-level aten::index calls of one pooled LLM decode step over the given slots of a pool: 2 per layer when the
     * step gathers the rows' keys and values, 1 per layer when it reads a window (the pick of the rows' attention
     * outputs [W, heads*d], not of a cache), 0 when the rows are consecutive slots.
     */
    private long llmStepGathers(int poolSlots, int windowFactor, int[] slotOfRow) {
        SplittableRandom r = new SplittableRandom(5);
        try (KvPool pool = llm.newPool(poolSlots, 64); NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            pool.windowFactor(windowFactor);
            List<KvPool.Slot> slots = new ArrayList<>();
            for (int i = 0; i < poolSlots; i++) {
                slots.add(pool.acquire());
            }
            List<SequenceCache> caches = new ArrayList<>();
            for (int s : slotOfRow) {
                long[] prompt = r.longs(4 + r.nextInt(20), 0, 256).toArray();
                llm.forward(llm.embed(prompt), slots.get(s), prompt);
                caches.add(slots.get(s));
            }
            long[] tokens = r.longs(slotOfRow.length, 0, 256).toArray();
            llm.decode(tokens, caches); // warm
            double[] index = NativeOps.byName(() -> llm.decode(tokens, caches)).get("aten::index");
            return index == null ? 0 : (long) index[0];
        }
    }

    @Test
    void shouldReadThePoolThroughViewsWhenTheRowsHoldConsecutiveSlotsInAnyOrder() {
        // Given rows in slots 0..3 in order, and the same slots handed over as 2, 0, 3, 1
        // When one pooled decode step runs
        // Then no layer gathers (in order: none at all; out of order: one reordering of the result)
        assertThat(llmStepGathers(4, 2, new int[] {0, 1, 2, 3})).isZero();
        assertThat(llmStepGathers(4, 2, new int[] {2, 0, 3, 1})).isEqualTo(1);
    }

    @Test
    void shouldGatherNoCacheWhenTheRowsHaveSlotsBetweenThemWithinTwiceTheirNumber() {
        int layers = model.config().numHiddenLayers();
        // Given rows in slots 0, 1 and 3 of 4 (a parked or ended turn in 2), and 3 and 0 of 8 (two between)
        // When one pooled decode step runs
        // Then no layer gathers keys or values: each reads the window's view and picks its rows' attention outputs
        // (one index per layer, of [W, heads*d])
        assertThat(llmStepGathers(4, 2, new int[] {0, 1, 3})).isEqualTo(layers);
        assertThat(llmStepGathers(8, 2, new int[] {3, 0})).isEqualTo(layers);
        // while a spread wider than twice the rows (slots 0 and 7: 8 slots for 2 rows), or windows switched off
        // (1 slot per row: the pool before windows), gathers keys and values in every layer
        assertThat(llmStepGathers(8, 2, new int[] {0, 7})).isEqualTo(2L * layers);
        assertThat(llmStepGathers(4, 1, new int[] {0, 1, 3})).isEqualTo(2L * layers);
    }

    private long llmStepOps(int b, boolean pooled) {
        SplittableRandom r = new SplittableRandom(b);
        List<SequenceCache> caches = new ArrayList<>();
        try (KvPool pool = llm.newPool(b, 64); NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            for (int i = 0; i < b; i++) {
                long[] prompt = r.longs(4 + r.nextInt(20), 0, 256).toArray();
                SequenceCache c = pooled ? pool.acquire() : llm.newCache(64);
                llm.forward(llm.embed(prompt), c, prompt);
                caches.add(c);
            }
            long[] tokens = r.longs(b, 0, 256).toArray();
            Runnable step = () -> {
                if (pooled) {
                    llm.decode(tokens, caches);
                } else {
                    llm.decodeBatch(tokens, caches.stream().map(c -> (KvCache) c).toList());
                }
            };
            step.run(); // warm
            return NativeOps.count(step);
        } finally {
            caches.forEach(SequenceCache::close);
        }
    }

    private long ctcStepOps(int b, boolean pooled) {
        CtcUnitDecoder ctc = model.ctc();
        List<CtcUnitDecoder.Stream> streams = new ArrayList<>();
        try (KvPool pool = ctc.newPool(b, 8L * ctc.upsampleFactor()); NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            List<NDArray> states = new ArrayList<>();
            for (int i = 0; i < b; i++) {
                streams.add(pooled ? ctc.newStream(pool) : ctc.newStream());
                states.add(model.manager().randomNormal(new ai.djl.ndarray.types.Shape(model.config().hiddenSize())));
            }
            Runnable step = () -> {
                if (pooled) {
                    ctc.stepAll(streams, states);
                } else {
                    for (int i = 0; i < b; i++) {
                        streams.get(i).step(states.get(i));
                    }
                }
            };
            step.run(); // warm
            return NativeOps.count(step);
        } finally {
            streams.forEach(CtcUnitDecoder.Stream::close);
        }
    }

    @Test
    void shouldIssueAsManyNativeOpsPerPooledDecodeStepForSevenSequencesAsForTwo() {
        // Given the tiny LLM, When one decode step runs for 2 and for 7 sequences, pooled and per sequence
        NativeOps.Growth ops = NativeOps.Growth.of(2, 7, this::llmStepOps);
        // Then the pooled step's count does not move, the per-sequence one grows with every sequence
        assertFlatWhenShared(ops, 5L * 2 * 10); // >= 10 ops per layer per sequence
    }

    @Test
    void shouldIssueAsManyNativeOpsPerBatchedCtcStepForSevenStreamsAsForTwo() {
        assertFlatWhenShared(NativeOps.Growth.of(2, 7, this::ctcStepOps), 5L * 2 * 10);
    }

    /**
     * The shared path makes as many calls at the large B as at the small one and fewer than one by one, which adds at
     * least {@code minAloneGrowth} calls between the two.
     */
    public static void assertFlatWhenShared(NativeOps.Growth ops, long minAloneGrowth) {
        System.out.println(ops);
        assertThat(ops.sharedLarge()).isEqualTo(ops.sharedSmall());
        assertThat(ops.aloneLarge() - ops.aloneSmall()).isGreaterThanOrEqualTo(minAloneGrowth);
        assertThat(ops.sharedLarge()).isLessThan(ops.aloneLarge());
    }
}
