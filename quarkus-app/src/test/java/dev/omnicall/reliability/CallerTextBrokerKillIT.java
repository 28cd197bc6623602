package dev.omnicall.reliability;

import dev.omnicall.events.CallerText;
import dev.omnicall.events.EndReason;
import dev.omnicall.events.Transcript;
import dev.omnicall.events.TranscriptTurn;
import dev.omnicall.events.TurnRequest;
import dev.omnicall.kafka.Topics;
import dev.omnicall.reliability.proc.BrokerMain;
import dev.omnicall.reliability.support.BrokerProcess;
import dev.omnicall.reliability.support.Events;
import dev.omnicall.reliability.support.Figures;
import dev.omnicall.reliability.support.Roles;
import dev.omnicall.reliability.support.Tail;
import dev.omnicall.reliability.support.Waits;
import dev.omnicall.reliability.support.Writer;
import dev.omnicall.topologies.StreamsRole;
import dev.omnicall.topologies.TopologyMetrics;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Guarantee (issue 11's contract under a fault): the worker produces one CallerText per (turnId, attempt) before it
 * commits the turn's offset, so a broker that dies hard while turns are being transcribed loses no caller text and
 * doubles none, and the streams role still puts every turn's caller text into the transcript.
 *
 * <p>The broker runs as its own JVM ({@link BrokerMain}, as in {@link BrokerKillIT}); the streams role and a
 * worker on the tiny checkpoint run in this JVM, both with transcription as shipped (on). {@code calls} calls each
 * say a first turn (answered and transcribed before the fault), then a second one; the moment the worker hands the
 * first CallerText of the second turns to its producer (the others still decoding) the broker is killed with
 * SIGKILL, stays down 5 s and a new process starts on the same ports and data, so CallerTexts are between the
 * decoder and the broker across the restart (and the streams role's transaction is cut). Then every call says a
 * third turn and hangs up. Counted from the topics (read_committed, from the start): TurnRequests,
 * CallerTexts per (call, turn, attempt) and the last transcript of every call. Knobs (test JVM properties):
 * {@code reliability.caller-text.calls} (8: the worker's default batch), {@code reliability.broker-restart.down-ms}
 * (5000).
 */
@Tag("reliability")
@Timeout(900)   // on a loaded box the broker takes ~50 s to start, as long again to restart, and the streams role recovers
class CallerTextBrokerKillIT extends ReliabilityTest {

    private static final int CALLS = Integer.getInteger("reliability.caller-text.calls", 8);
    private static final int TURNS = 3;
    /** The turn that is being transcribed when the broker dies. */
    private static final int FAULT_TURN = 1;
    /** The longest wait for a turn to be in every transcript (at load 20-50 the broker alone took 79 s to restart). */
    private static final Duration WAIT = Duration.ofSeconds(200);
    private static final String WORKER = "ctk-worker";

    /** The top frames of a thread of this JVM, with its state. */
    private static String stackOf(String threadName) {
        for (var info : java.lang.management.ManagementFactory.getThreadMXBean().dumpAllThreads(false, false)) {
            if (info.getThreadName().equals(threadName)) {
                StringBuilder b = new StringBuilder(info.getThreadState().toString());
                StackTraceElement[] st = info.getStackTrace();
                for (int i = 0; i < Math.min(8, st.length); i++) {
                    b.append(" <- ").append(st[i].getClassName().replaceAll(".*\\.", "")).append('.')
                            .append(st[i].getMethodName()).append(':').append(st[i].getLineNumber());
                }
                return b.toString();
            }
        }
        return "(no thread " + threadName + ")";
    }

    /** One utterance of a call: 5 segments of 200 ms (tones and noise), the last one ending it. */
    private static void utterance(Writer w, String call, int turn) {
        for (int seq = 0; seq < 5; seq++) {
            w.send(Topics.CALLER_AUDIO, call, Events.segment(call, turn, seq, 3200, seq == 4));
        }
    }

    /** The latest transcript of each call (the topic is compacted: the last record is the call's transcript). */
    private static Map<String, Transcript> transcripts(Tail tail) {
        Map<String, Transcript> out = new TreeMap<>();
        tail.values(Topics.TRANSCRIPTS).forEach(t -> out.put(t.getCallId().toString(), t));
        return out;
    }

    private static Optional<TranscriptTurn> turnOf(Transcript t, int turn) {
        return t == null ? Optional.empty() : t.getTurns().stream().filter(x -> x.getTurnId() == turn).findFirst();
    }

    /** Every call's transcript has {@code turn} with its reply completed and the caller's text in it. */
    private static boolean turnDone(Tail tail, List<String> calls, int turn) {
        Map<String, Transcript> all = transcripts(tail);
        return calls.stream().allMatch(c -> turnOf(all.get(c), turn)
                .filter(x -> x.getCompletedUs() > 0 && x.getUserText() != null).isPresent());
    }

    /** Waits up to {@code timeout}; the milliseconds it took, -1 if it never held. */
    private static long awaitUpTo(Duration timeout, java.util.function.BooleanSupplier condition) {
        try {
            return Waits.until("", timeout, condition);
        } catch (AssertionError timedOut) {
            return -1;
        }
    }

    /** Transcriptions the worker finished since {@code before}. */
    private static long transcribedSince(Roles.Worker worker, long before) {
        return worker.metrics.transcriptions(true) + worker.metrics.transcriptions(false) - before;
    }

    /** Turns the worker has begun (every start looks up the call's kept KV cache once: a hit or a miss). */
    private static long begun(Roles.Worker worker) {
        return worker.metrics.kvHits() + worker.metrics.kvMisses();
    }

    /**
     * Second turns in the worker whose CallerText has not gone out yet: those begun since {@code begunBefore} less
     * those transcribed, plus those still queued. Counters only rise, and a turn is begun before it is transcribed
     * (the transcription count is read first), so a turn is never counted as pending after its text went out.
     */
    private static long untranscribedInFlight(Roles.Worker worker, long transcribedBefore, long begunBefore) {
        long transcribed = transcribedSince(worker, transcribedBefore);
        return begun(worker) - begunBefore - transcribed + worker.metrics.queueDepth();
    }

    private static String key(CharSequence call, int turn) {
        return call + "#" + turn;
    }

    @Test
    void shouldDeliverEveryTurnsCallerTextOnceAndFillEveryTranscriptWhenTheBrokerIsKilledDuringTranscription() throws Exception {
        // Given a broker process, the streams role and a transcribing worker, and calls that said a first turn
        BrokerProcess broker = keep(BrokerProcess.start(tmp.resolve("kafka"), 3, tmp.resolve("logs")));
        Writer w = keep(new Writer(broker.settings(), Roles.SERDE));
        Tail tail = keep(new Tail(broker.settings(), Roles.SERDE, Topics.TURN_REQUESTS, Topics.CALLER_TEXT,
                Topics.TRANSCRIPTS, Topics.DEAD_LETTERS));
        StreamsRole streams = keep(Roles.startStreams(broker.settings(), "caller-text-kill", tmp.resolve("state")));
        Map<String, String> props = Roles.workerProperties(broker.bootstrapServers(), WORKER, "ctk-workers", 12);
        props.put("omnicall.worker.transcribe.language", "en");   // a fixed language: no detection step on random weights
        props.put("omnicall.worker.transcribe.max-tokens", "32");
        Roles.Worker worker = keep(new Roles.Worker(props));
        List<String> calls = new ArrayList<>();
        for (int i = 0; i < CALLS; i++) {
            String call = "ctk-call-" + i;
            calls.add(call);
            w.send(Topics.CALL_EVENTS, call, Events.callStarted(call));
        }
        calls.forEach(c -> utterance(w, c, 0));
        long firstTurnMs = Waits.until("turn 0 transcribed and answered in every transcript", WAIT,
                () -> turnDone(tail, calls, 0));
        long transcribedBefore = transcribedSince(worker, 0);

        // When every call says its second turn, and the broker process is killed -9 the moment the worker has handed
        // a CallerText of them to its producer while another second turn in the worker is still to be transcribed (on
        // a loaded box the streams role may hand the turns over one by one: a kill after the first alone had been
        // answered caught no CallerText on its way; if every second turn is transcribed before that holds, the kill
        // comes then and the scenario check below fails with the figures),
        long begunBefore = begun(worker);
        calls.forEach(c -> utterance(w, c, FAULT_TURN));
        long takenUpNanos = System.nanoTime();
        long transcribedAtTrigger;
        long untranscribedAtKill;
        while (true) {
            transcribedAtTrigger = transcribedSince(worker, transcribedBefore);
            untranscribedAtKill = untranscribedInFlight(worker, transcribedBefore, begunBefore);
            if ((transcribedAtTrigger > 0 && untranscribedAtKill > 0) || transcribedAtTrigger >= CALLS) {
                break;
            }
            if (Waits.msSince(takenUpNanos) > WAIT.toMillis()) {
                throw new AssertionError("the worker never transcribed turn " + FAULT_TURN + " (transcribed "
                        + transcribedAtTrigger + ", " + worker.metrics.activeTurns() + " active)");
            }
            Thread.sleep(1);
        }
        long takenUpMs = Waits.msSince(takenUpNanos);
        long killEpochUs = System.currentTimeMillis() * 1000;
        long killNanos = System.nanoTime();
        long killMs = broker.kill9();
        long transcribedAtKill = transcribedSince(worker, transcribedBefore);
        int activeAtKill = worker.metrics.activeTurns();
        boolean cleanMarker = broker.hasCleanShutdownMarker();
        double workerWaitBefore = BrokerOutageUnderCalls.producerMetric(WORKER, "metadata-wait-time-ns-total");
        // stays down (where the worker's loop is, halfway), and a new process starts on the same ports and data
        Waits.sleep(BrokerOutageUnderCalls.DOWN_MS / 2);
        String workerMidOutage = stackOf("worker-" + WORKER);
        Waits.sleep(BrokerOutageUnderCalls.DOWN_MS - BrokerOutageUnderCalls.DOWN_MS / 2);
        long restartMs = broker.startAgain();
        long readyEpochUs = System.currentTimeMillis() * 1000;
        long killToReadyMs = Waits.msSince(killNanos);
        long transcribedWhileDownByMetric = transcribedSince(worker, transcribedBefore) - transcribedAtKill;
        // (from here a turn stuck must show in the count and the figures, not as a timeout: these waits do not fail)
        long faultTurnMs = awaitUpTo(WAIT, () -> turnDone(tail, calls, FAULT_TURN));
        long killToFaultTurnDoneMs = faultTurnMs < 0 ? -1 : Waits.msSince(killNanos);
        double workerMetadataWaitNs = BrokerOutageUnderCalls.producerMetric(WORKER, "metadata-wait-time-ns-total") - workerWaitBefore;
        // then every call says a third turn and hangs up
        calls.forEach(c -> utterance(w, c, TURNS - 1));
        long lastTurnMs = awaitUpTo(WAIT, () -> turnDone(tail, calls, TURNS - 1));
        calls.forEach(c -> w.send(Topics.CALL_EVENTS, c, Events.callEnded(c, EndReason.CALLER_HANGUP)));
        long endedMs = awaitUpTo(Duration.ofSeconds(60), () -> {
            Map<String, Transcript> all = transcripts(tail);
            return calls.stream().allMatch(c -> all.containsKey(c) && all.get(c).getEnded());
        });
        Waits.sleep(1000);   // anything doubled would have arrived by now: producers flushed before their commits

        // The count
        List<TurnRequest> requests = tail.values(Topics.TURN_REQUESTS);
        Map<String, Long> requestsPerTurn = requests.stream()
                .collect(Collectors.groupingBy(r -> key(r.getCallId(), r.getTurnId()), TreeMap::new, Collectors.counting()));
        List<CallerText> texts = tail.values(Topics.CALLER_TEXT);
        Map<String, Long> perAttempt = texts.stream().collect(Collectors.groupingBy(
                t -> key(t.getCallId(), t.getTurnId()) + "#" + t.getAttempt(), TreeMap::new, Collectors.counting()));
        Map<String, List<CallerText>> perTurn = texts.stream().collect(Collectors.groupingBy(
                t -> key(t.getCallId(), t.getTurnId()), TreeMap::new, Collectors.toList()));
        long doubled = perAttempt.values().stream().filter(n -> n > 1).count();
        long redone = perTurn.values().stream().filter(l -> l.stream().map(CallerText::getAttempt).distinct().count() > 1).count();
        List<String> missing = new ArrayList<>();
        for (String c : calls) {
            for (int t = 0; t < TURNS; t++) {
                if (!perTurn.containsKey(key(c, t))) {
                    missing.add(key(c, t));
                }
            }
        }
        long whileDown = texts.stream().filter(t -> t.getDecodeDoneUs() >= killEpochUs && t.getDecodeDoneUs() < readyEpochUs).count();
        // CallerTexts the outage caught between the decoder and the broker: decoded before the broker was back,
        // stored after it died (in the worker's producer, or decoded and not yet sent, across the restart)
        long acrossOutage = tail.timed(Topics.CALLER_TEXT).stream().filter(t -> t.value().getDecodeDoneUs() < readyEpochUs
                && t.arrivedNanos() > killNanos).count();
        long faultTurnTexts = texts.stream().filter(t -> t.getTurnId() == FAULT_TURN).count();
        // each turn's caller text as the transcript must show it: the latest attempt's
        Map<String, CallerText> latest = perTurn.entrySet().stream().collect(Collectors.toMap(Map.Entry::getKey,
                e -> e.getValue().stream().max(Comparator.comparingInt(CallerText::getAttempt)).orElseThrow(),
                (a, b) -> a, LinkedHashMap::new));
        Map<String, Transcript> finals = transcripts(tail);
        List<String> wrongUserText = new ArrayList<>();
        int turnsWithUserText = 0;
        for (String c : calls) {
            for (int t = 0; t < TURNS; t++) {
                Optional<TranscriptTurn> tt = turnOf(finals.get(c), t);
                CallerText expected = latest.get(key(c, t));
                String shown = tt.map(x -> x.getUserText() == null ? null : x.getUserText().toString()).orElse(null);
                String want = expected == null ? null : expected.getText().toString();
                boolean same = want != null && (want.equals(shown) || (want.isBlank() && (shown == null || shown.isBlank())));
                if (!same) {
                    wrongUserText.add(key(c, t) + ": transcript " + (tt.isPresent() ? "'" + shown + "'" : "has no such turn")
                            + ", caller-text '" + want + "'");
                } else {
                    turnsWithUserText++;
                }
            }
        }
        long turnsCompleted = finals.values().stream().flatMap(t -> t.getTurns().stream()).filter(t -> t.getCompletedUs() > 0).count();
        TopologyMetrics m = streams.metrics();
        long transcriptionsFailed = worker.metrics.transcriptions(false);
        int deadLetters = tail.raw(Topics.DEAD_LETTERS).size();
        long tokensPerText = texts.isEmpty() ? 0 : texts.stream().mapToInt(CallerText::getTokenCount).sum() / texts.size();

        Figures.note("broker process killed in %d ms, %d ms after the second turns were written (worker: %d turns active,"
                        + " %d second turns transcribed; at the trigger %d transcribed, %d in the worker still to"
                        + " transcribe); kill -> broker ready %d ms (new JVM to READY %d ms: %s)",
                killMs, takenUpMs, activeAtKill, transcribedAtKill, transcribedAtTrigger, untranscribedAtKill,
                killToReadyMs, restartMs, broker.readyLine());
        Figures.note("worker during the outage: its producer's sends waited %.0f ns for metadata; its loop %d ms after the"
                + " kill: %s", workerMetadataWaitNs, BrokerOutageUnderCalls.DOWN_MS / 2, workerMidOutage);
        Figures.note("CallerTexts: %d records for %d (call, turn) of %d, %d (turn, attempt) pairs; %d across the outage"
                        + " (decoded before the broker was back, stored after it died), %d decoded while it was down (worker"
                        + " count %d), %d of turn %d; %d turns redone as a higher attempt; mean %d tokens; kill -> turn %d in"
                        + " every transcript %d ms; turn 0 took %d ms, turn %d %d ms",
                texts.size(), perTurn.size(), CALLS * TURNS, perAttempt.size(), acrossOutage, whileDown,
                transcribedWhileDownByMetric, faultTurnTexts, FAULT_TURN, redone, tokensPerText, FAULT_TURN,
                killToFaultTurnDoneMs, firstTurnMs, TURNS - 1, lastTurnMs);
        for (int t = 0; t < TURNS; t++) {
            int turn = t;
            long done = calls.stream().filter(c -> turnOf(finals.get(c), turn).filter(x -> x.getCompletedUs() > 0).isPresent()).count();
            long withText = calls.stream().filter(c -> turnOf(finals.get(c), turn).filter(x -> x.getUserText() != null).isPresent()).count();
            Figures.note("turn %d: %d TurnRequests, %d CallerTexts, transcripts with its reply %d, with its caller text %d (of %d)",
                    turn, requests.stream().filter(r -> r.getTurnId() == turn).count(),
                    texts.stream().filter(x -> x.getTurnId() == turn).count(), done, withText, CALLS);
        }
        Figures.note("streams role %s; waits: turn %d %d ms, turn %d %d ms, ended %d ms (-1: not within the wait)",
                streams.state(), FAULT_TURN, faultTurnMs, TURNS - 1, lastTurnMs, endedMs);
        Figures.note("streams: caller_texts %d, duplicate_caller_texts %d, stale_caller_texts %d, unknown_turn %d,"
                        + " without_context %d, turns_completed %d, turn_requests %d; worker: transcriptions ok %d failed %d,"
                        + " dead letters %d (topic %d)",
                m.get(TopologyMetrics.CALLER_TEXTS), m.get(TopologyMetrics.DUPLICATE_CALLER_TEXTS),
                m.get(TopologyMetrics.STALE_CALLER_TEXTS), m.get(TopologyMetrics.CALLER_TEXTS_UNKNOWN_TURN),
                m.get(TopologyMetrics.CALLER_TEXTS_WITHOUT_CONTEXT), m.get(TopologyMetrics.TURNS_COMPLETED),
                m.get(TopologyMetrics.TURN_REQUESTS), worker.metrics.transcriptions(true), transcriptionsFailed,
                worker.metrics.deadLettersTotal(), deadLetters);
        Figures.line("test=caller-text-broker-kill calls=%d turns=%d turn_requests=%d caller_texts=%d turn_attempts=%d"
                        + " doubled=%d missing=%d redone_turns=%d across_outage=%d transcribed_while_down=%d kill_to_ready_ms=%d restart_ms=%d"
                        + " kill_to_turn_done_ms=%d transcript_user_texts=%d transcript_mismatches=%d failed_transcriptions=%d"
                        + " dead_letters=%d duplicate_caller_texts_ignored=%d worker_metadata_wait_ns=%.0f unclean=%b",
                CALLS, CALLS * TURNS, requests.size(), texts.size(), perAttempt.size(), doubled, missing.size(), redone,
                acrossOutage, whileDown, killToReadyMs, restartMs, killToFaultTurnDoneMs, turnsWithUserText, wrongUserText.size(),
                transcriptionsFailed, deadLetters, m.get(TopologyMetrics.DUPLICATE_CALLER_TEXTS), workerMetadataWaitNs,
                !cleanMarker);

        // Then it was a crash (no clean-shutdown marker) in the middle of transcription: caller texts were on their
        // way from the decoder to the broker when it died
        assertThat(cleanMarker).as("clean-shutdown marker after SIGKILL").isFalse();
        assertThat(acrossOutage).as("CallerTexts decoded before the broker was back and stored after it died").isPositive();
        // every turn was requested exactly once (the streams role is exactly-once)
        assertThat(requestsPerTurn).as("TurnRequests per call#turn").hasSize(CALLS * TURNS).allSatisfy((k, n) ->
                assertThat(n).as("TurnRequests of " + k).isEqualTo(1L));
        // every turn has its CallerText, exactly one per (turn, attempt), none failed or dead-lettered
        assertThat(missing).as("turns without a CallerText (worker: %d failed transcriptions, %d dead letters)",
                transcriptionsFailed, deadLetters).isEmpty();
        assertThat(perAttempt).as("CallerTexts per call#turn#attempt").allSatisfy((k, n) ->
                assertThat(n).as("CallerTexts of " + k).isEqualTo(1L));
        assertThat(transcriptionsFailed).as("failed transcriptions").isZero();
        assertThat(deadLetters).as("dead letters").isZero();
        // and the transcripts end with every turn's caller text (the latest attempt's), every reply completed
        assertThat(wrongUserText).as("transcript turns whose userText is not their CallerText").isEmpty();
        assertThat(turnsCompleted).as("transcript turns with a completed reply").isEqualTo((long) CALLS * TURNS);
        assertThat(m.get(TopologyMetrics.CALLER_TEXTS_UNKNOWN_TURN) + m.get(TopologyMetrics.CALLER_TEXTS_WITHOUT_CONTEXT))
                .as("CallerTexts the streams role could not place").isZero();
        assertThat(streams.isRunning()).as("streams role still RUNNING").isTrue();
        assertThat(endedMs).as("ms until every transcript was marked ended (-1: not within 60 s)").isNotNegative();
        assertThat(worker.isAlive()).as("worker still running").isTrue();
    }
}
