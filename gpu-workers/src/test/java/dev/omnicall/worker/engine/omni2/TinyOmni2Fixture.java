package dev.omnicall.worker.engine.omni2;

import dev.omnicall.model.ModelOptions;
import dev.omnicall.model.TinyModels;
import dev.omnicall.model.omni2.Omni2Model;
import dev.omnicall.model.omni2.TtsSampling;
import dev.omnicall.model.omni2.TtsSchedule;
import dev.omnicall.worker.engine.TurnInput;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;

/**
 * What the Omni2 engine tests share: the tiny checkpoint loaded once per test class, turns of test audio, and the
 * engine's options with replies of at most {@value #MAX_NEW} text tokens.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class TinyOmni2Fixture {
    static final int MAX_NEW = 14;

    Omni2Model model;

    @BeforeAll
    void load() {
        model = Omni2Model.load(Omni2TurnEngineTest.tinyDir(), ModelOptions.defaults().withPaddedSeconds(0));
    }

    @AfterAll
    void close() {
        model.close();
    }

    /** TinyModels.testAudio as 16 kHz PCM16. */
    static short[] pcm(double seconds, long seed) {
        float[] x = TinyModels.testAudio(seconds, seed);
        short[] pcm = new short[x.length];
        for (int i = 0; i < x.length; i++) {
            pcm[i] = (short) Math.round(x[i] * 32767);
        }
        return pcm;
    }

    /** A caller turn of a call without history. */
    static TurnInput turn(String call, double seconds, long seed) {
        return new TurnInput(call, pcm(seconds, seed), List.of());
    }

    static Omni2TurnEngine.Options options(TtsSchedule schedule) {
        return options(schedule, TtsSampling.greedy());
    }

    static Omni2TurnEngine.Options options(TtsSchedule schedule, TtsSampling sampling) {
        return new Omni2TurnEngine.Options(schedule, sampling, MAX_NEW);
    }
}
