package dev.omnicall.model;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import dev.omnicall.model.CtcUnitDecoder.CtcCollapser;
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
        LlamaModelTest.assertClose(NDArrays.concat(logits).toFloatArray(), offline.logits().toFloatArray(), 1e-3f);
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

    private static List<Integer> boxed(int[] a) {
        List<Integer> l = new ArrayList<>();
        for (int v : a) {
            l.add(v);
        }
        return l;
    }
}
