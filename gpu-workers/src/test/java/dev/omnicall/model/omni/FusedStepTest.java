package dev.omnicall.model.omni;

import static org.assertj.core.api.Assertions.assertThat;

import dev.omnicall.model.KvPool;
import dev.omnicall.model.TinyModels;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@link SpeechGenerator#stepAll} with a rider (a newcomer's prompt rows in the step's forward) when things go wrong: a
 * rider that cannot give its rows is the newcomer's failure, and the speaking turns' step runs as without it.
 */
class FusedStepTest {
    private final OmniModel model = TinyModels.model();

    @Test
    void shouldStepTheSpeakingTurnsAsWithoutARiderThatCannotGiveItsRows() {
        GenerationOptions options = GenerationOptions.defaults().withMaxNewTokens(6);
        try (KvPool pool = model.llm().newPool(4, 512);
                KvPool ctcPool = model.ctc().newPool(4, 7L * model.ctc().upsampleFactor())) {
            SpeechGenerator generator = new SpeechGenerator(model, options, null, pool, ctcPool);
            float[] audio = TinyModels.testAudio(0.5, 3);
            // Given the reply of a turn stepped alone (the reference)
            List<String> expected = new ArrayList<>();
            try (TurnGenerator t = generator.start(audio, List.of(), null)) {
                while (!t.isDone()) {
                    expected.add(generator.stepAll(List.of(t)).get(0).text());
                }
            }
            assertThat(expected).hasSizeGreaterThan(1);
            // When every step carries a newcomer's start that was closed (its rows cannot be taken)
            TurnStart closed = generator.begin(TinyModels.testAudio(0.5, 4), List.of(), null);
            closed.close();
            List<String> actual = new ArrayList<>();
            try (TurnGenerator t = generator.start(audio, List.of(), null)) {
                while (!t.isDone()) {
                    actual.add(generator.stepAll(List.of(t), SpeechGenerator.DecoderWork.SLICE_FINISH_AT_DONE, closed, 8)
                            .get(0).text());
                    // Then each step says why the rider gave nothing, and carried no rows
                    assertThat(generator.lastRiderFailure()).hasMessageContaining("closed");
                    assertThat(generator.lastFusedRows()).isZero();
                }
            }
            // and the turn replies as alone; the newcomer's slot was freed
            assertThat(actual).isEqualTo(expected);
            assertThat(pool.running()).isZero();
        }
    }
}
