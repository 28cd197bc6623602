package dev.omnicall.worker;

import static org.assertj.core.api.Assertions.assertThat;

import dev.omnicall.events.TurnRequest;
import dev.omnicall.kafka.SampleEvents;
import dev.omnicall.worker.engine.ConversationSnapshot;
import dev.omnicall.worker.engine.EngineSession;
import dev.omnicall.worker.engine.TurnInput;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

/**
 * The scheduler's chunked starts (a newcomer's start in slices, one per loop, while the speaking turns step) and its
 * real-time admission (newcomers wait while a speaking turn is short of the playback margin), on the scripted engine.
 */
class TurnSchedulerAdmissionTest {
    private static final TopicPartition TP = new TopicPartition("turn-requests", 0);

    private final CountingWorkerMetrics metrics = new CountingWorkerMetrics();
    private final TurnSchedulerTest.Collected out = new TurnSchedulerTest.Collected();

    /** The scripted engine whose starts take {@code slices} slices: begin runs the first, each advance one more. */
    static final class SlicedEngine extends ScriptedEngine {
        final int slices;
        final List<String> log = new ArrayList<>();
        final List<Starting> begun = new ArrayList<>();

        SlicedEngine(int steps, int unitsPerChunk, int slices) {
            super(steps, unitsPerChunk);
            this.slices = slices;
        }

        final class Starting implements StartingSession {
            final TurnInput input;
            final ConversationSnapshot reuse;
            int done = 1;
            boolean closed;
            boolean taken;

            Starting(TurnInput input, ConversationSnapshot reuse) {
                this.input = input;
                this.reuse = reuse;
                log.add(input.callId() + ":slice1");
            }

            @Override
            public boolean ready() {
                return done >= slices;
            }

            @Override
            public boolean advance() {
                if (!ready()) {
                    done++;
                    log.add(input.callId() + ":slice" + done);
                }
                return ready();
            }

            @Override
            public EngineSession session() {
                taken = true;
                return start(input, reuse);
            }

            @Override
            public void close() {
                closed = !taken;
            }
        }

        @Override
        public StartingSession begin(TurnInput input, ConversationSnapshot reuse) {
            Starting s = new Starting(input, reuse);
            begun.add(s);
            return s;
        }

        @Override
        public List<dev.omnicall.worker.engine.StepOutput> step(List<EngineSession> batch, boolean decoderMayRun) {
            log.add("step" + batch.size());
            return super.step(batch, decoderMayRun);
        }
    }

    private static Turn turn(String callId, long offset) {
        TurnRequest r = TurnRequest.newBuilder(SampleEvents.turnRequest(callId)).setTurnId(1)
                .setAudio(ByteBuffer.wrap(new byte[3200])).build();
        return new Turn(r, TurnRequests.toInput(r), TP, offset, callId.getBytes(), new byte[0], 7);
    }

    private TurnScheduler scheduler(ScriptedEngine engine) {
        return new TurnScheduler(engine, new ConversationCache(0, metrics), 4, true, "w1", metrics, out);
    }

    @Test
    void shouldRunANewcomersStartOneSlicePerStepWhileATurnSpeaks() {
        // Given a turn speaking and starts of 3 slices
        SlicedEngine engine = new SlicedEngine(12, 1, 3);
        TurnScheduler s = scheduler(engine);
        s.submit(turn("a", 0));
        s.runOnce();
        assertThat(engine.log).containsExactly("a:slice1", "a:slice2", "a:slice3", "step1");
        // When a newcomer arrives
        engine.log.clear();
        s.submit(turn("b", 1));
        s.runOnce();
        s.runOnce();
        s.runOnce();
        // Then each loop runs one slice of its start and one step of the speaking turn; it joins after the last slice
        assertThat(engine.log).containsExactly("b:slice1", "step1", "b:slice2", "step1", "b:slice3", "step2");
        // and the caller decoder was held while it started
        assertThat(engine.decoderAllowed.subList(1, 3)).containsOnly(false);
        assertThat(s.active()).isEqualTo(2);
        for (int i = 0; i < 100 && s.hasWork(); i++) {
            s.runOnce();
        }
        assertThat(out.finished).containsExactly("a/1:COMPLETED", "b/1:COMPLETED");
        assertThat(out.chunks("b")).isNotEmpty();
    }

    @Test
    void shouldRunAtMostOneSliceInAnySpeakingTurnsGapBetweenTwoChunks() {
        // Given a turn speaking with a chunk every 3 steps (its first after step 3) and starts of 3 slices
        SlicedEngine engine = new SlicedEngine(12, 3, 3);
        TurnScheduler s = scheduler(engine);
        s.submit(turn("a", 0));
        for (int i = 0; i < 3; i++) {
            s.runOnce();
        }
        assertThat(out.chunks("a")).hasSize(1);
        // When a newcomer arrives
        engine.log.clear();
        s.submit(turn("b", 1));
        for (int i = 0; i < 7; i++) {
            s.runOnce();
        }
        // Then one slice per chunk gap of a (steps 4-6, 7-9, 10-12), not one per loop; it joins after the last
        assertThat(engine.log).containsExactly("b:slice1", "step1", "step1", "step1", "b:slice2", "step1", "step1",
                "step1", "b:slice3", "step2");
        assertThat(s.prefillSlicesDeferred()).isEqualTo(4);
        for (int i = 0; i < 100 && s.hasWork(); i++) {
            s.runOnce();
        }
        assertThat(out.finished).containsExactly("a/1:COMPLETED", "b/1:COMPLETED");
    }

    @Test
    void shouldRunASliceEveryLoopWithTheGapBoundOff() {
        // Given the same turn and starts, the bound off
        SlicedEngine engine = new SlicedEngine(12, 3, 3);
        TurnScheduler s = scheduler(engine);
        s.setPrefillGapBound(false);
        s.submit(turn("a", 0));
        for (int i = 0; i < 3; i++) {
            s.runOnce();
        }
        engine.log.clear();
        s.submit(turn("b", 1));
        for (int i = 0; i < 3; i++) {
            s.runOnce();
        }
        // Then a slice every loop: all three fall into a's gap between its chunks after steps 3 and 6
        assertThat(engine.log).containsExactly("b:slice1", "step1", "b:slice2", "step1", "b:slice3", "step2");
        assertThat(s.prefillSlicesDeferred()).isZero();
    }

    @Test
    void shouldCancelAndAbandonATurnWhileItsStartRuns() {
        SlicedEngine engine = new SlicedEngine(20, 1, 5);
        TurnScheduler s = scheduler(engine);
        s.submit(turn("a", 0));
        s.runOnce();
        // Given newcomers b (then c) in the middle of their starts
        s.submit(turn("b", 1));
        s.runOnce();
        s.runOnce();
        assertThat(s.publishedActive()).isEqualTo(2);
        // When b's call ends: one cancelled last delta, finished, its start closed, no caller text
        assertThat(s.cancelCall("b", "call-ended")).isEqualTo(1);
        assertThat(out.texts("b")).hasSize(1);
        assertThat(out.texts("b").get(0).getCancelled()).isTrue();
        assertThat(out.finished).contains("b/1:CANCELLED");
        assertThat(engine.begun.get(1).closed).isTrue();
        // When c is mid-start and its partition is revoked: abandoned without output
        s.submit(turn("c", 2));
        s.runOnce();
        s.runOnce();
        assertThat(s.abandon(Set.of(TP))).isEqualTo(2); // a (running) and c (starting)
        assertThat(engine.begun.get(2).closed).isTrue();
        assertThat(out.texts("c")).isEmpty();
        assertThat(s.hasWork()).isFalse();
        for (int i = 0; i < 10; i++) {
            s.runOnce();
        }
        assertThat(out.callerTexts("b")).isEmpty();
        assertThat(out.finished).doesNotContain("c/1:CANCELLED", "c/1:COMPLETED");
    }

    @Test
    void shouldStartWholeWhenNoTurnSpeaks() {
        SlicedEngine engine = new SlicedEngine(3, 1, 4);
        TurnScheduler s = scheduler(engine);
        s.submit(turn("a", 0));
        s.runOnce();
        assertThat(engine.log).containsExactly("a:slice1", "a:slice2", "a:slice3", "a:slice4", "step1");
    }

    @Test
    void shouldHoldNewcomersWhileASpeakingTurnIsShortOfTheMargin() {
        // Given a margin no scripted turn reaches (20 ms of audio a step, 10 s asked) and a turn speaking
        ScriptedEngine engine = new ScriptedEngine(6, 1);
        TurnScheduler s = scheduler(engine);
        s.setAdmissionMargin(Duration.ofSeconds(10));
        s.submit(turn("a", 0));
        s.runOnce();
        assertThat(out.chunks("a")).hasSize(1);
        // When a newcomer arrives
        s.submit(turn("b", 1));
        s.runOnce();
        s.runOnce();
        // Then it waits, the hold is counted and published, the margin is reported (at most the audio out: 40 ms)
        assertThat(s.waiting()).isEqualTo(1);
        assertThat(s.admissionHeld()).isTrue();
        assertThat(metrics.admissionHeldLoops()).isEqualTo(2);
        assertThat(metrics.playbackMarginUs()).isLessThanOrEqualTo(3 * 20_000L).isGreaterThan(-60_000_000L);
        // and it joins once the speaking turn is done
        for (int i = 0; i < 100 && s.hasWork(); i++) {
            s.runOnce();
        }
        assertThat(out.finished).containsExactly("a/1:COMPLETED", "b/1:COMPLETED");
        long aLast = out.chunks("a").get(out.chunks("a").size() - 1).getTimings().getFirstChunkProducedUs();
        assertThat(out.chunks("b").get(0).getTimings().getInferenceStartUs()).isGreaterThanOrEqualTo(aLast);
        assertThat(engine.stepSizes).containsOnly(1);
        assertThat(s.admissionHeld()).isFalse();
        // and with nobody speaking the margin is reported as none (the gauge's NaN), not the last call's value
        assertThat(metrics.playbackMarginUs()).isEqualTo(WorkerMetrics.NO_PLAYBACK_MARGIN);
    }

    @Test
    void shouldAdmitWhenTheSpeakingTurnsHaveNoAudioYetOrTheRuleIsOff() {
        // Given a margin of 10 s but the first turn without audio yet (a chunk every 50 units)
        ScriptedEngine engine = new ScriptedEngine(6, 50);
        TurnScheduler s = scheduler(engine);
        s.setAdmissionMargin(Duration.ofSeconds(10));
        s.submit(turn("a", 0));
        s.runOnce();
        s.submit(turn("b", 1));
        s.runOnce();
        // Then the newcomer joins at once: nobody hears a gap yet
        assertThat(engine.stepSizes).containsExactly(1, 2);
        assertThat(metrics.admissionHeldLoops()).isZero();
        // And with the rule off (the default) a speaking turn never holds anyone
        ScriptedEngine engine2 = new ScriptedEngine(6, 1);
        TurnScheduler s2 = scheduler(engine2);
        s2.submit(turn("c", 2));
        s2.runOnce();
        s2.submit(turn("d", 3));
        s2.runOnce();
        assertThat(engine2.stepSizes).containsExactly(1, 2);
    }
}
