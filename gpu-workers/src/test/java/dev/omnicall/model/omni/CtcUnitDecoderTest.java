package dev.omnicall.model.omni;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import dev.omnicall.model.KvPool;
import dev.omnicall.model.TinyModels;
import dev.omnicall.model.omni.CtcUnitDecoder.CtcCollapser;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class CtcUnitDecoderTest {
    private final OmniModel model = TinyModels.model();
    private final CtcUnitDecoder ctc = model.ctc();

    @Test
    void shouldEmitTheSameUnitsStreamedAsOfflineOverTheWholeSequence() {
        // Given 16 LLM states
        int n = 16;
        SplittableRandom r = new SplittableRandom(3);
        float[] values = new float[n * model.config().hiddenSize()];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) r.nextGaussian();
        }
        NDArray states = model.manager().create(values, new Shape(n, model.config().hiddenSize()));
        // When streamed one state at a time through the incremental decoder
        List<Integer> streamed = new ArrayList<>();
        NDList logits = new NDList();
        try (CtcUnitDecoder.Stream stream = ctc.newStream()) {
            for (int i = 0; i < n; i++) {
                for (int u : stream.step(states.get(i))) {
                    streamed.add(u);
                }
                logits.add(stream.lastLogits().duplicate());
            }
            assertThat(stream.framesSeen()).isEqualTo(n * ctc.upsampleFactor());
        }
        // Then the units and the logits equal the whole-sequence pass
        CtcUnitDecoder.Offline offline = ctc.offline(states);
        assertThat(streamed).containsExactlyElementsOf(boxed(offline.units()));
        assertThat(offline.units()).isNotEmpty();
        assertThat(maxAbsDifference(NDArrays.concat(logits).toFloatArray(), offline.logits().toFloatArray()))
                .as("max abs difference of the logits").isLessThanOrEqualTo(1e-3f);
        assertThat(offline.logits().getShape().getShape()).containsExactly(n * 25L, model.config().unitVocabSize() + 1L);
    }

    @Test
    void shouldMergeRepeatsAcrossCallsWhenCollapsing() {
        // Given labels split mid-run: 5 5 | 5 blank 5 | 7 7 blank | blank 7
        int blank = 100;
        CtcCollapser c = new CtcCollapser(blank);
        // When pushed in pieces
        List<Integer> out = new ArrayList<>();
        for (long[] piece : new long[][] {{5, 5}, {5, blank, 5}, {7, 7, blank}, {blank, 7}}) {
            for (int u : c.push(piece)) {
                out.add(u);
            }
        }
        // Then the result equals collapsing the whole (merge repeats, then drop blanks)
        assertThat(out).containsExactly(5, 5, 7, 7);
        assertThat(CtcCollapser.collapse(new long[] {5, 5, 5, blank, 5, 7, 7, blank, blank, 7}, blank))
                .containsExactly(5, 5, 7, 7);
    }

    @Test
    void shouldEmitTheSameUnitsWhenStreamsStepTogetherAsWhenEachStepsAlone() {
        // Given 5 streams over 10 steps: stream i joins at step i (i < 4), stream 0 leaves after 5 steps and stream 4
        // joins at step 6; a pool of 3 slots, so stream 3 finds none (a cache of its own, stepping alone in the same
        // call) and stream 4 takes stream 0's slot over its stale frames
        int dim = model.config().hiddenSize();
        int[] joins = {0, 1, 2, 3, 6};
        int[] leaves = {5, 10, 10, 10, 10};
        SplittableRandom r = new SplittableRandom(11);
        float[][][] states = new float[5][10][dim];
        for (float[][] perStream : states) {
            for (float[] state : perStream) {
                for (int d = 0; d < dim; d++) {
                    state[d] = (float) r.nextGaussian();
                }
            }
        }
        List<List<Integer>> together = new ArrayList<>();
        List<List<Integer>> alone = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            together.add(new ArrayList<>());
            alone.add(new ArrayList<>());
        }
        try (KvPool pool = ctc.newPool(3, 11L * ctc.upsampleFactor())) {
            CtcUnitDecoder.Stream[] pooled = new CtcUnitDecoder.Stream[5];
            CtcUnitDecoder.Stream[] single = new CtcUnitDecoder.Stream[5];
            for (int step = 0; step < 10; step++) {
                List<Integer> running = new ArrayList<>();
                for (int i = 0; i < 5; i++) {
                    if (step == joins[i]) {
                        pooled[i] = ctc.newStream(pool);
                        single[i] = ctc.newStream();
                    }
                    if (step >= joins[i] && step < leaves[i]) {
                        running.add(i);
                    }
                }
                // When the running streams step together, newest first, and each reference stream alone
                java.util.Collections.reverse(running);
                List<CtcUnitDecoder.Stream> streams = new ArrayList<>();
                List<NDArray> in = new ArrayList<>();
                for (int i : running) {
                    streams.add(pooled[i]);
                    in.add(model.manager().create(states[i][step - joins[i]]));
                }
                int[][] units = ctc.stepAll(streams, in);
                for (int j = 0; j < running.size(); j++) {
                    int i = running.get(j);
                    together.get(i).addAll(boxed(units[j]));
                    alone.get(i).addAll(boxed(single[i].step(in.get(j))));
                    if (step == leaves[i] - 1) {
                        pooled[i].close();
                        single[i].close();
                    }
                }
            }
            assertThat(pooled[3].pooled()).isFalse();
            assertThat(pooled[4].pooled()).isTrue();
        }
        // Then every stream's units are the ones it emits alone
        for (int i = 0; i < 5; i++) {
            assertThat(together.get(i)).as("units of stream %d", i).isNotEmpty()
                    .containsExactlyElementsOf(alone.get(i));
        }
    }

    @Test
    void shouldEmitTheOfflineUnitsWhenAReplyOutgrowsItsPoolSlot() {
        // Given a CTC pool of 2 slots of 3 tokens' frames each; stream a runs 10 steps (outgrows its slot at step 3),
        // b 2 steps (fits), c joins at step 4 (takes a slot a or b left) and runs 6 steps (outgrows it too)
        int dim = model.config().hiddenSize();
        int[] joins = {0, 0, 4};
        int[] lengths = {10, 2, 6};
        SplittableRandom r = new SplittableRandom(29);
        float[][] values = new float[3][];
        for (int i = 0; i < 3; i++) {
            values[i] = new float[lengths[i] * dim];
            for (int d = 0; d < values[i].length; d++) {
                values[i][d] = (float) r.nextGaussian();
            }
        }
        List<List<Integer>> together = new ArrayList<>();
        List<List<Integer>> alone = new ArrayList<>();
        CtcUnitDecoder.Stream[] pooled = new CtcUnitDecoder.Stream[3];
        CtcUnitDecoder.Stream[] single = new CtcUnitDecoder.Stream[3];
        boolean[] pooledAtJoin = new boolean[3];
        try (KvPool pool = ctc.newPool(2, 3L * ctc.upsampleFactor())) {
            for (int step = 0; step < 10; step++) {
                List<CtcUnitDecoder.Stream> streams = new ArrayList<>();
                List<NDArray> in = new ArrayList<>();
                List<Integer> running = new ArrayList<>();
                for (int i = 0; i < 3; i++) {
                    if (step == joins[i]) {
                        pooled[i] = ctc.newStream(pool);
                        single[i] = ctc.newStream();
                        pooledAtJoin[i] = pooled[i].pooled();
                        together.add(new ArrayList<>());
                        alone.add(new ArrayList<>());
                    }
                    if (step >= joins[i] && step < joins[i] + lengths[i]) {
                        running.add(i);
                        streams.add(pooled[i]);
                        int row = step - joins[i];
                        in.add(model.manager().create(java.util.Arrays.copyOfRange(values[i], row * dim, (row + 1) * dim)));
                    }
                }
                // When the running streams step together, and each reference stream alone
                int[][] units = ctc.stepAll(streams, in);
                for (int j = 0; j < running.size(); j++) {
                    int i = running.get(j);
                    together.get(i).addAll(boxed(units[j]));
                    alone.get(i).addAll(boxed(single[i].step(in.get(j))));
                    if (step == joins[i] + lengths[i] - 1) {
                        pooled[i].close();
                        single[i].close();
                    }
                }
            }
            // Then a and c started in a slot and outgrew it, b fitted, and every slot is free again
            assertThat(pooledAtJoin).containsExactly(true, true, true);
            assertThat(pooled[0].outgrewSlot()).isTrue();
            assertThat(pooled[1].outgrewSlot()).isFalse();
            assertThat(pooled[2].outgrewSlot()).isTrue();
            assertThat(pool.running()).isZero();
        }
        // and every stream's units are the whole-sequence reference's and the ones it emits alone
        for (int i = 0; i < 3; i++) {
            NDArray states = model.manager().create(values[i], new Shape(lengths[i], dim));
            assertThat(together.get(i)).as("units of stream %d", i).isNotEmpty()
                    .containsExactlyElementsOf(boxed(ctc.offline(states).units()))
                    .containsExactlyElementsOf(alone.get(i));
        }
    }

    private static List<Integer> boxed(int[] a) {
        List<Integer> l = new ArrayList<>();
        for (int v : a) {
            l.add(v);
        }
        return l;
    }

    private static float maxAbsDifference(float[] actual, float[] expected) {
        assertThat(actual).hasSameSizeAs(expected);
        float worst = 0;
        for (int i = 0; i < actual.length; i++) {
            worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
        }
        return worst;
    }
}
