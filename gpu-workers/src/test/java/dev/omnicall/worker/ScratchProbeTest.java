package dev.omnicall.worker;

import dev.omnicall.model.ModelOptions;
import dev.omnicall.model.OmniModel;
import dev.omnicall.model.stream.*;
import org.junit.jupiter.api.Test;
import java.util.List;

class ScratchProbeTest {
    @Test
    void probe() {
        OmniModel m = OmniModel.load(WorkerHarness.tinyCheckpoint(), ModelOptions.defaults().withPaddedSeconds(0));
        SpeechGenerator g = new SpeechGenerator(m, GenerationOptions.defaults().withSchedule(ChunkSchedule.parse("4,8,16")).withMaxNewTokens(40));
        short[] pcm = TurnRequests.samples(java.nio.ByteBuffer.wrap(WorkerHarness.utterance(0.6, 1)));
        TurnGenerator t = g.start(pcm, List.of(), null);
        long t0 = System.nanoTime();
        int steps = 0;
        try {
            while (!t.isDone()) {
                StepResult r = t.step();
                steps++;
                System.out.println("step " + steps + " text=" + r.text() + " audio=" + r.audio().stream().map(a -> a.unitCount() + "u/" + a.pcm().length).toList() + " units=" + t.units().length);
            }
        } catch (RuntimeException e) {
            System.out.println("FAILED at step " + steps + " units " + java.util.Arrays.toString(t.units()));
            e.printStackTrace(System.out);
        }
        System.out.println("ms/step " + (System.nanoTime() - t0) / 1e6 / Math.max(1, steps));
    }
}
