package dev.omnicall.reliability;

import dev.omnicall.bridge.testing.FreePorts;

import dev.omnicall.bridge.media.PlayoutBuffer;
import dev.omnicall.events.AudioChunk;
import dev.omnicall.events.CallStarted;
import dev.omnicall.events.PlaybackStarted;
import dev.omnicall.events.TextDelta;
import dev.omnicall.kafka.Topics;
import dev.omnicall.reliability.support.CallerAudio;
import dev.omnicall.reliability.support.ChildJvm;
import dev.omnicall.reliability.support.Events;
import dev.omnicall.reliability.support.Figures;
import dev.omnicall.reliability.support.Roles;
import dev.omnicall.reliability.support.SippCaller;
import dev.omnicall.reliability.support.Tail;
import dev.omnicall.reliability.support.Waits;
import dev.omnicall.reliability.support.Writer;
import dev.omnicall.testbroker.TestBroker;
import dev.omnicall.worker.InferenceWorker;
import dev.omnicall.worker.WorkerMain;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Guarantee: worker at-least-once, the caller hears one attempt. Two {@link WorkerMain} processes share one
 * consumer group; the one streaming a reply to a live sipp call through a real bridge is killed with SIGKILL.
 * The other must take the turn over after the session timeout and finish it, the bridge must play exactly
 * one attempt (no duplicate, no interleaving), and the group's lag must return to zero.
 */
@Tag("reliability")
@Timeout(300)
class WorkerKillIT extends ReliabilityTest {

    private static final Duration WAIT = Duration.ofSeconds(90);
    /** The worker's own default: this test runs the workers as configured in production. */
    private static final int SESSION_TIMEOUT_MS = InferenceWorker.DEFAULT_SESSION_TIMEOUT_MS;
    /** Reply length: short enough that the redo's generation fits the second after the session expires. */
    private static final int MAX_TOKENS = Integer.getInteger("reliability.worker-kill.max-tokens", 24);
    private static final String GROUP = "kill-workers";
    /** The workers' kafka.fetch.max.wait.ms when set (to measure its part in the takeover); unset: the worker's default. */
    private static final String FETCH_WAIT_MS = System.getProperty("reliability.worker-kill.fetch-wait-ms");

    private ChildJvm startWorker(TestBroker broker, String instance) throws Exception {
        Map<String, String> props = new java.util.HashMap<>(Roles.workerProperties(broker.bootstrapServers(), instance, GROUP, MAX_TOKENS));
        if (FETCH_WAIT_MS != null) {
            props.put("kafka.fetch.max.wait.ms", FETCH_WAIT_MS);
        }
        List<String> args = props.entrySet().stream()
                .map(e -> e.getKey() + "=" + e.getValue()).collect(Collectors.toCollection(ArrayList::new));
        return keep(ChildJvm.start(instance, WorkerMain.class, List.of(), args, tmp.resolve("logs")));
    }

    private static long packets(List<AudioChunk> chunks) {
        long samples = chunks.stream().mapToLong(c -> c.getPcm().remaining() / 2).sum();
        return (samples + 319) / 320;
    }

    @Test
    void shouldFinishTheTurnOnTheOtherWorkerAndPlayOneAttemptWhenTheStreamingWorkerIsKilled() throws Exception {
        // Given a broker, a bridge with a live sipp call, and two worker processes in one group
        TestBroker broker = keep(TestBroker.start(tmp.resolve("kafka"), 2));
        Writer w = keep(new Writer(broker.settings(), Roles.SERDE));
        Tail tail = keep(new Tail(broker.settings(), Roles.SERDE, Topics.RESPONSE_TEXT, Topics.RESPONSE_AUDIO,
                Topics.CALL_EVENTS, Topics.DEAD_LETTERS));
        Roles.tinyCheckpoint();
        ChildJvm a = startWorker(broker, "worker-a");
        ChildJvm b = startWorker(broker, "worker-b");
        for (ChildJvm c : List.of(a, b)) {
            c.awaitLine(l -> l.startsWith("WORKER READY"), WAIT);
        }
        Waits.until("both workers hold partitions", WAIT, () -> a.output().contains(" assigned [") && b.output().contains(" assigned ["));
        Waits.sleep(1000);   // let the cooperative rebalance settle
        Roles.Bridge bridge = keep(new Roles.Bridge(broker.settings(), "kill-bridge", FreePorts.udpAndTcp(), 4, 5, 20));
        Path quiet = CallerAudio.quiet(tmp, "quiet", 2);
        SippCaller caller = SippCaller.start(tmp, "call_stream_until_bye.xml",
                Map.of("AUDIO", quiet.toString(), "LOOPS", "-1", "WAIT_MS", "200000"), bridge.sipPort, 1, 1, 1);
        String callId = tail.await(Topics.CALL_EVENTS, e -> e.getPayload() instanceof CallStarted, WAIT, "CallStarted")
                .getCallId().toString();

        // When a turn request arrives and its worker is killed once the reply's audio streams
        w.send(Topics.TURN_REQUESTS, callId, Events.turnRequest(callId, 0, Events.utterance(0.6, 11)));
        AudioChunk firstChunk = tail.await(Topics.RESPONSE_AUDIO, c -> c.getCallId().toString().equals(callId), WAIT,
                "the first reply chunk");
        int attemptA = firstChunk.getAttempt();
        String victim = firstChunk.getWorkerId().toString();
        ChildJvm killed = victim.equals("worker-a") ? a : b;
        ChildJvm survivor = killed == a ? b : a;
        long killNanos = System.nanoTime();
        long killWallMs = System.currentTimeMillis();
        killed.kill9();
        boolean finishedBeforeKill = tail.values(Topics.RESPONSE_TEXT).stream()
                .anyMatch(d -> d.getCallId().toString().equals(callId) && d.getAttempt() == attemptA && d.getLast());
        assertThat(finishedBeforeKill).as("killed mid-reply").isFalse();

        // Then the survivor redoes the turn as a higher attempt and finishes it
        Tail.Timed<TextDelta> redoFirst = awaitTimed(tail, Topics.RESPONSE_TEXT,
                d -> d.getCallId().toString().equals(callId) && d.getAttempt() != attemptA, "the redo's first delta");
        Tail.Timed<TextDelta> redoLast = awaitTimed(tail, Topics.RESPONSE_TEXT,
                d -> d.getCallId().toString().equals(callId) && d.getAttempt() != attemptA && d.getLast(), "the redo's last delta");
        TextDelta last = redoLast.value();
        assertThat(last.getAttempt()).isGreaterThan(attemptA);
        assertThat(last.getWorkerId().toString()).isEqualTo(victim.equals("worker-a") ? "worker-b" : "worker-a");
        assertThat(last.getCancelled()).isFalse();
        Tail.Timed<AudioChunk> redoLastChunk = awaitTimed(tail, Topics.RESPONSE_AUDIO,
                c -> c.getCallId().toString().equals(callId) && c.getAttempt() == last.getAttempt() && c.getLast(),
                "the redo's last audio chunk");
        long takeoverMs = (redoFirst.arrivedNanos() - killNanos) / 1_000_000;
        long completeMs = (Math.max(redoLast.arrivedNanos(), redoLastChunk.arrivedNanos()) - killNanos) / 1_000_000;
        long redoMs = (Math.max(redoLast.arrivedNanos(), redoLastChunk.arrivedNanos()) - redoFirst.arrivedNanos()) / 1_000_000;
        long reassignedMs = reassignedAfter(survivor, killWallMs);
        // The survivor's own stamps on the redo: when its loop read the request (the Kafka part of the takeover) and
        // began inference
        var redoTimings = redoFirst.value().getTimings();
        long readMs = redoTimings.getRequestConsumedUs() == null ? -1 : redoTimings.getRequestConsumedUs() / 1000 - killWallMs;
        long inferenceMs = redoTimings.getInferenceStartUs() == null ? -1 : redoTimings.getInferenceStartUs() / 1000 - killWallMs;
        Figures.note("kill -> survivor assigned %d ms, -> request read %d ms, -> inference start %d ms, -> first redo delta %d ms,"
                        + " -> redo complete %d ms (redo generation %d ms; fetch.max.wait.ms %s, load %.1f)", reassignedMs, readMs,
                inferenceMs, takeoverMs, completeMs, redoMs,
                FETCH_WAIT_MS == null ? InferenceWorker.DEFAULT_FETCH_MAX_WAIT_MS : FETCH_WAIT_MS, load1());
        // The call's partitions move to the survivor within the session timeout + 1 s of the kill, and the survivor
        // finishes the turn (last delta and last audio chunk read back) within that + its fetch wait: partitions handed
        // over are fetched once the survivor's fetch in flight returns (InferenceWorker.DEFAULT_FETCH_MAX_WAIT_MS)
        long fetchWaitMs = FETCH_WAIT_MS == null ? InferenceWorker.DEFAULT_FETCH_MAX_WAIT_MS : Long.parseLong(FETCH_WAIT_MS);
        assertThat(reassignedMs).as("kill -> survivor assigned the partitions").isLessThanOrEqualTo(SESSION_TIMEOUT_MS + 1000);
        assertThat(takeoverMs).as("kill -> first delta of the redo").isLessThanOrEqualTo(SESSION_TIMEOUT_MS + fetchWaitMs + 1000);
        assertThat(completeMs).as("kill -> the redo's last delta and last audio chunk")
                .isLessThanOrEqualTo(SESSION_TIMEOUT_MS + fetchWaitMs + 1000);

        // And nothing is left uncommitted
        long lagMs = Waits.until("group lag 0", WAIT,
                () -> w.lag(GROUP, List.of(Topics.TURN_REQUESTS, Topics.CALL_EVENTS)) == 0);

        // And the caller heard exactly one attempt: one PlaybackStarted, the other attempt's chunks refused,
        // no more packets than the played attempt holds
        Waits.sleep(4000);   // the played attempt ends (or stalls out after 3 s without its final chunk)
        List<AudioChunk> chunks = tail.values(Topics.RESPONSE_AUDIO).stream().filter(c -> c.getCallId().toString().equals(callId)).toList();
        List<PlaybackStarted> playbacks = tail.values(Topics.CALL_EVENTS).stream()
                .filter(e -> e.getCallId().toString().equals(callId) && e.getPayload() instanceof PlaybackStarted)
                .map(e -> (PlaybackStarted) e.getPayload()).toList();
        assertThat(playbacks).as("PlaybackStarted of turn 0").hasSize(1);
        int played = playbacks.get(0).getAttempt();
        List<AudioChunk> playedChunks = chunks.stream().filter(c -> c.getAttempt() == played).toList();
        List<AudioChunk> otherChunks = chunks.stream().filter(c -> c.getAttempt() != played).toList();
        long sent = bridge.media.sent.sum();
        long rejectedOther = bridge.media.rejected(PlayoutBuffer.Outcome.OTHER_ATTEMPT);
        long duplicates = bridge.media.rejected(PlayoutBuffer.Outcome.DUPLICATE);
        assertThat(sent).isBetween(1L, packets(playedChunks) + 2);
        assertThat(rejectedOther).as("chunks of the attempt not played").isEqualTo(otherChunks.size());
        Figures.note("attempt %d (%s) killed after %d chunks; attempt %d by the survivor; played attempt %d: %d packets"
                        + " sent for %d chunks (%d packets), %d chunks of the other attempt refused, %d duplicates",
                attemptA, victim, chunks.stream().filter(c -> c.getAttempt() == attemptA).count(), last.getAttempt(),
                played, sent, playedChunks.size(), packets(playedChunks), rejectedOther, duplicates);

        bridge.server.stop();
        assertThat(caller.await(30)).as(caller.errors()).isZero();
        assertThat(survivor.isAlive()).isTrue();
        Figures.line("test=worker-kill session_timeout_ms=%d max_new_tokens=%d fetch_max_wait_ms=%s reassigned_ms=%d read_ms=%d takeover_ms=%d"
                        + " complete_ms=%d redo_generation_ms=%d lag_zero_ms=%d attempts_played=1 packets_sent=%d other_attempt_refused=%d"
                        + " lost_turns=0 load1=%.1f",
                SESSION_TIMEOUT_MS, MAX_TOKENS, FETCH_WAIT_MS == null ? InferenceWorker.DEFAULT_FETCH_MAX_WAIT_MS : FETCH_WAIT_MS,
                reassignedMs, readMs, takeoverMs, completeMs, redoMs, lagMs, sent, rejectedOther, load1());
    }

    private static double load1() {
        try {
            return Double.parseDouble(java.nio.file.Files.readString(Path.of("/proc/loadavg")).split(" ")[0]);
        } catch (java.io.IOException | RuntimeException e) {
            return Double.NaN;
        }
    }

    /** Milliseconds from the kill to the survivor's first partition assignment logged after it. */
    private static long reassignedAfter(ChildJvm survivor, long killWallMs) {
        Waits.until("the survivor's reassignment", WAIT, () -> assignmentsAfter(survivor, killWallMs).findAny().isPresent());
        return assignmentsAfter(survivor, killWallMs).findFirst().orElseThrow() - killWallMs;
    }

    private static java.util.stream.Stream<Long> assignmentsAfter(ChildJvm survivor, long killWallMs) {
        return survivor.lines().stream().filter(l -> l.contains(" assigned [") && l.contains("turn-requests"))
                .map(l -> java.time.Instant.parse(l.substring(0, l.indexOf(' '))).toEpochMilli())
                .filter(t -> t >= killWallMs);
    }

    private static <V extends org.apache.avro.specific.SpecificRecord> Tail.Timed<V> awaitTimed(Tail tail, dev.omnicall.kafka.Topic<V> topic,
                                                java.util.function.Predicate<V> p, String what) {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (System.nanoTime() < deadline) {
            for (Tail.Timed<V> t : tail.timed(topic)) {
                if (p.test(t.value())) {
                    return t;
                }
            }
            Waits.sleep(10);
        }
        throw new AssertionError("timed out waiting for " + what);
    }
}
