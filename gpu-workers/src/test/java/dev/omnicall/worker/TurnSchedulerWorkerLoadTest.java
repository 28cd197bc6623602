package dev.omnicall.worker;

import static org.assertj.core.api.Assertions.assertThat;

import dev.omnicall.events.TextDelta;
import dev.omnicall.events.TurnRequest;
import dev.omnicall.events.WorkerLoad;
import dev.omnicall.kafka.SampleEvents;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

/**
 * The worker's load stamped on each TextDelta for the dashboard (issue 14 item 5): running and waiting turns, the
 * least playback margin over the turns that have sent audio (none: absent, not 0), and whether real-time admission
 * holds newcomers back; a turn's last delta leaves the turn out.
 */
class TurnSchedulerWorkerLoadTest {
    private static final TopicPartition TP = new TopicPartition("turn-requests", 0);

    private final CountingWorkerMetrics metrics = new CountingWorkerMetrics();
    private final TurnSchedulerTest.Collected out = new TurnSchedulerTest.Collected();

    private static Turn turn(String callId, long offset) {
        TurnRequest r = TurnRequest.newBuilder(SampleEvents.turnRequest(callId)).setTurnId(1)
                .setAudio(ByteBuffer.wrap(new byte[3200])).build();
        return new Turn(r, TurnRequests.toInput(r), TP, offset, callId.getBytes(), new byte[0], 7);
    }

    private static Turn speaking(String callId, long firstChunkUs, long audioUs) {
        Turn t = turn(callId, 0);
        t.timings.setFirstChunkProducedUs(firstChunkUs);
        t.audioUs = audioUs;
        return t;
    }

    private TurnScheduler scheduler(ScriptedEngine engine) {
        return new TurnScheduler(engine, new ConversationCache(0, metrics), 4, true, "w1", metrics, out);
    }

    private List<WorkerLoad> loads(String callId) {
        return out.texts(callId).stream().map(TextDelta::getWorkerLoad).toList();
    }

    @Test
    void shouldTakeTheLeastMarginOverTheTurnsThatHaveSentAudio() {
        // Given, at t = 1.4 s: a sent 500 ms from 1.0 s (100 ms ahead), b 250 ms from 1.2 s (50 ms ahead), c nothing yet
        Turn a = speaking("a", 1_000_000, 500_000);
        Turn b = speaking("b", 1_200_000, 250_000);
        Turn c = turn("c", 2);
        long now = 1_400_000;

        // Then the least is b's, then a's without b; c counts nowhere; behind playback is negative
        assertThat(TurnScheduler.leastMarginUs(List.of(a, b, c), null, now)).isEqualTo(50_000);
        assertThat(TurnScheduler.leastMarginUs(List.of(a, b, c), b, now)).isEqualTo(100_000);
        assertThat(TurnScheduler.leastMarginUs(List.of(c), null, now)).isEqualTo(Long.MAX_VALUE);
        assertThat(TurnScheduler.leastMarginUs(List.of(), null, now)).isEqualTo(Long.MAX_VALUE);
        assertThat(TurnScheduler.leastMarginUs(List.of(speaking("d", 1_000_000, 100_000)), null, now))
                .isEqualTo(-300_000);
    }

    @Test
    void shouldStampTheHoldWhileANewcomerWaitsAndLeaveTheEndingTurnOut() {
        // Given real-time admission at 10 s (no scripted turn gets that far ahead) and a turn speaking
        ScriptedEngine engine = new ScriptedEngine(6, 1);
        TurnScheduler s = scheduler(engine);
        s.setAdmissionMargin(Duration.ofSeconds(10));
        s.submit(turn("a", 0));
        s.runOnce();
        // When a newcomer arrives and waits, and the speaking turn runs to its end
        s.submit(turn("b", 1));
        for (int i = 0; i < 100 && s.hasWork(); i++) {
            s.runOnce();
        }

        // Then a's first delta went out before its first chunk: running 1, no margin yet (absent, not 0)
        List<WorkerLoad> a = loads("a");
        assertThat(a.get(0).getRunningTurns()).isEqualTo(1);
        assertThat(a.get(0).getLeastMarginUs()).isNull();
        assertThat(a.get(0).getAdmissionMarginUs()).isEqualTo(10_000_000L);
        // its deltas while b waited say so: held, one waiting, a margin of at most the audio out (20 ms a step)
        WorkerLoad held = a.get(2);
        assertThat(held.getAdmissionHolding()).isTrue();
        assertThat(held.getWaitingTurns()).isEqualTo(1);
        assertThat(held.getRunningTurns()).isEqualTo(1);
        assertThat(held.getLeastMarginUs()).isNotNull().isLessThanOrEqualTo(2 * 20_000L).isGreaterThan(-60_000_000L);
        // its last delta leaves it out: nobody running, no margin, the hold ends with it
        WorkerLoad aLast = a.get(a.size() - 1);
        assertThat(out.texts("a").get(a.size() - 1).getLast()).isTrue();
        assertThat(aLast.getRunningTurns()).isZero();
        assertThat(aLast.getLeastMarginUs()).isNull();
        assertThat(aLast.getAdmissionHolding()).isFalse();
        assertThat(aLast.getWaitingTurns()).isEqualTo(1);
        // and b, admitted then, speaks alone and is never held
        List<WorkerLoad> b = loads("b");
        assertThat(b).allSatisfy(l -> assertThat(l.getAdmissionHolding()).isFalse());
        assertThat(b.get(0).getRunningTurns()).isEqualTo(1);
        assertThat(b.get(0).getWaitingTurns()).isZero();
        assertThat(b.get(b.size() - 1).getRunningTurns()).isZero();
    }

    @Test
    void shouldStampTwoRunningTurnsAndNoRuleWhenAdmissionIsOff() {
        // Given the rule off (the default) and two turns speaking together
        ScriptedEngine engine = new ScriptedEngine(6, 1);
        TurnScheduler s = scheduler(engine);
        s.submit(turn("a", 0));
        s.runOnce();
        s.submit(turn("b", 1));
        for (int i = 0; i < 100 && s.hasWork(); i++) {
            s.runOnce();
        }

        // Then a's deltas after b joined count two running turns, with a margin, and no rule, never holding
        List<WorkerLoad> a = loads("a");
        assertThat(a.get(2).getRunningTurns()).isEqualTo(2);
        assertThat(a.get(2).getLeastMarginUs()).isNotNull();
        assertThat(a).allSatisfy(l -> {
            assertThat(l.getAdmissionMarginUs()).isNull();
            assertThat(l.getAdmissionHolding()).isFalse();
        });
        // a ends first (it started first): its last delta counts b only; b's last counts nobody
        assertThat(a.get(a.size() - 1).getRunningTurns()).isEqualTo(1);
        List<WorkerLoad> b = loads("b");
        assertThat(b.get(b.size() - 1).getRunningTurns()).isZero();
        assertThat(b.get(b.size() - 1).getLeastMarginUs()).isNull();
    }
}
