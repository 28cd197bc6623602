package dev.omnicall.worker.engine.omni2;

import static org.assertj.core.api.Assertions.assertThat;

import dev.omnicall.model.KvPool;
import dev.omnicall.model.omni2.TtsSchedule;
import dev.omnicall.model.NativeOpsTest;
import dev.omnicall.model.tools.NativeOps;
import dev.omnicall.worker.engine.TurnInput;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The point of the Omni2 engine's pools, as a count (not a timing; NativeOpsTest's way): libtorch's profiler records
 * the top-level ATen calls of one step's LLM part, which makes as many for 6 pooled sessions as for 2, while sessions
 * on caches of their own make more with every session.
 */
class Omni2EngineNativeOpsTest extends TinyOmni2Fixture {
    /** Ops of the LLM part of a step ({@link Omni2TurnEngine#llmStep}) for b sessions, pooled or on their own caches. */
    private long llmStepOps(int b, boolean pooled) {
        Omni2TurnEngine.Options options = options(new TtsSchedule(3, 10, 40));
        try (KvPool pool = model.llm().newPool(b, 256)) {
            Omni2TurnEngine engine = new Omni2TurnEngine(model, options,
                    new Omni2TurnEngine.Pools(pooled ? pool : null, null));
            List<Omni2Session> sessions = new ArrayList<>();
            try {
                for (int i = 0; i < b; i++) {
                    sessions.add((Omni2Session) engine.start(new TurnInput("c" + i,
                            pcm(0.5 + 0.1 * i, 50 + i), List.of()), null));
                    sessions.get(i).emit();
                }
                assertThat(sessions).allMatch(s -> s.pooled() == pooled);
                engine.llmStep(sessions); // warm
                return NativeOps.count(() -> engine.llmStep(sessions));
            } finally {
                sessions.forEach(Omni2Session::close);
            }
        }
    }

    /**
     * Ops of the TTS LM's writes due at one step ({@link dev.omnicall.model.omni2.TtsLanguageModel#writeAll}) for b
     * sessions at their first write (token 3 of R 3, W 10: ten LM steps each), in TTS pool slots or on own caches.
     */
    private long ttsWriteOps(int b, boolean pooled) {
        Omni2TurnEngine.Options options = options(new TtsSchedule(3, 10, 40));
        long ops = 0;
        for (int round = 0; round < 2; round++) { // the first warms up, the second is counted
            try (KvPool pool = model.tts().newPool(b, 128)) {
                Omni2TurnEngine engine = new Omni2TurnEngine(model, options,
                        new Omni2TurnEngine.Pools(null, pooled ? pool : null));
                List<Omni2Session> sessions = new ArrayList<>();
                try {
                    List<dev.omnicall.model.omni2.TtsStream> writers = new ArrayList<>();
                    for (int i = 0; i < b; i++) {
                        Omni2Session s = (Omni2Session) engine.start(new TurnInput("c" + i,
                                pcm(0.5 + 0.1 * i, 70 + i), List.of()), null);
                        sessions.add(s);
                        s.step();
                        s.step();
                        assertThat(s.read()).isTrue(); // token 3: a write
                        assertThat(s.tts().pooled()).isEqualTo(pooled);
                        writers.add(s.tts());
                    }
                    ops = NativeOps.count(() -> model.tts().writeAll(writers));
                } finally {
                    sessions.forEach(Omni2Session::close);
                }
            }
        }
        return ops;
    }

    @Test
    void shouldIssueAsManyNativeOpsForTheTtsWritesOfSixPooledSessionsAsForTwo() {
        // Given the tiny Omni2 checkpoint, When the first writes of 2 and of 6 sessions run in one step
        NativeOps.Growth ops = NativeOps.Growth.of(2, 6, this::ttsWriteOps);
        // Then the pooled count does not move, while streams on their own caches run their LM steps one by one
        NativeOpsTest.assertFlatWhenShared(ops, 4L * 10 * 10); // >= 10 ops per LM step per stream
    }

    @Test
    void shouldIssueAsManyNativeOpsForTheLlmOfSixPooledSessionsAsForTwo() {
        // Given the tiny Omni2 checkpoint, When one step's LLM part runs for 2 and for 6 sessions
        NativeOps.Growth ops = NativeOps.Growth.of(2, 6, this::llmStepOps);
        // Then the pooled count does not move, while sessions on their own caches attend one by one
        int layers = model.config().numHiddenLayers();
        NativeOpsTest.assertFlatWhenShared(ops, 4L * layers * 5); // >= 5 ops per layer per session
    }
}
