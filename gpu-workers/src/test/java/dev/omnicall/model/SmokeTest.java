package dev.omnicall.model;

import static org.assertj.core.api.Assertions.assertThat;

import dev.omnicall.model.stream.GenerationOptions;
import dev.omnicall.model.stream.SpeechGenerator;
import dev.omnicall.model.stream.StepResult;
import dev.omnicall.model.stream.TurnGenerator;
import java.util.List;
import org.junit.jupiter.api.Test;

class SmokeTest {
    @Test
    void shouldRunTheWholeChainOnTheTinyCheckpoint() {
        OmniModel model = TinyModels.model();
        SpeechGenerator gen = new SpeechGenerator(model, GenerationOptions.defaults().withMaxNewTokens(20));
        try (TurnGenerator turn = gen.start(TinyModels.testAudio(1.0, 1), List.of(), null)) {
            int pieces = 0;
            int samples = 0;
            while (!turn.isDone()) {
                StepResult r = turn.step();
                pieces += r.audio().size();
                for (var a : r.audio()) {
                    samples += a.pcm().length;
                }
                System.out.println("token " + r.tokenId() + " text '" + r.text() + "' audio " + r.audio().size());
            }
            System.out.println("units " + turn.units().length + " pieces " + pieces + " samples " + samples + " text "
                    + turn.text() + " stamps " + turn.stamps());
            assertThat(pieces).isPositive();
        }
    }
}
