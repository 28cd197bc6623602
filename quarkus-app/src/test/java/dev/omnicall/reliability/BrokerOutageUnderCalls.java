package dev.omnicall.reliability;

import dev.omnicall.bridge.testing.FreePorts;
import dev.omnicall.events.AudioSegment;
import dev.omnicall.events.CallEnded;
import dev.omnicall.events.CallEvent;
import dev.omnicall.events.CallStarted;
import dev.omnicall.events.EndReason;
import dev.omnicall.kafka.KafkaSettings;
import dev.omnicall.kafka.Topics;
import dev.omnicall.reliability.support.CallerAudio;
import dev.omnicall.reliability.support.Roles;
import dev.omnicall.reliability.support.SippCaller;
import dev.omnicall.reliability.support.Tail;
import dev.omnicall.reliability.support.Waits;

import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What the broker-outage tests share: a real bridge with {@code calls} live sipp calls streaming espeak-ng
 * speech, an outage the test supplies (a clean stop or a SIGKILL, then a start on the same ports and data),
 * and the count afterwards: every AudioSegment the bridge's segmenter emitted against what a read_committed
 * reader of caller-audio finds from the start, and each call's CallStarted / CallEnded.
 *
 * <p>The calls last as long as the outage needs: they stream until the broker is back and each call's audio
 * captured after it is stored, then the bot hangs them up (BYE from the bridge, CallEnded BOT_HANGUP). Calls of a
 * fixed length could end before a slow broker came back (issue 18: at load 14 a restart took 57 s, longer than
 * calls sized from the first start's 8 s), and a call that ended inside the outage cannot show it resumed.
 */
final class BrokerOutageUnderCalls {

    static final Duration WAIT = Duration.ofSeconds(120);
    /** How long the broker stays down after the test's take-down step returns. */
    static final long DOWN_MS = Long.getLong("reliability.broker-restart.down-ms", 5000);
    /** The longest a call may wait for the bot's BYE (sipp's scenario timeout): outage, catch-up and resume fit. */
    static final long CALL_LIMIT_MS = 420_000;
    /** Caller audio each call must have stored, captured after the broker was back, before the bot hangs up. */
    static final int SEGMENTS_AFTER = 5;
    /** How long the backlog may take to be stored once the broker answers: the producers' delivery.timeout.ms. */
    static final Duration CATCH_UP = Duration.ofSeconds(120);

    /** One step of the outage. */
    interface Step {
        void run() throws Exception;
    }

    /** What one call left on the topics. */
    record CallRecord(int started, List<EndReason> ends, int segmentsCapturedWhileDown, int segmentsCapturedAfter) {}

    /**
     * The figures of one outage. {@code emitted}: segments the bridge emitted; {@code stored}: distinct
     * (call, utterance, seq) on caller-audio; {@code records}: records on caller-audio; {@code catchUpMs}: from
     * the broker answering again until every segment emitted by then was stored, -1 if that never happened.
     */
    record Result(int calls, long emitted, int stored, long records, long bytesStored, long emittedWhileDown, long takeDownMs,
                  long downMs, long bringBackMs, long catchUpMs, Map<String, CallRecord> perCall, List<String> stillLive,
                  Set<String> rtpThreadsBlockedOnKafka, long senderMetadataWaitSeenMs, double senderMetadataWaitNs,
                  String senderInProducer,
                  double produceErrors, double queueFull, long rtpReceived,
                  long rtpLost, int sippExit, String sippErrors) {

        long lost() {
            return emitted - stored;
        }

        long duplicates() {
            return records - stored;
        }

        long callsStartedOnce() {
            return perCall.values().stream().filter(c -> c.started() == 1).count();
        }

        /** Calls that ended exactly once, as the bot hung them up (BYE from the bridge). */
        long callsEndedOnce() {
            return perCall.values().stream().filter(c -> c.ends().equals(List.of(EndReason.BOT_HANGUP))).count();
        }

        /** Bytes of AudioSegments the bridge held while the broker was down (mean stored record size × count). */
        long bytesHeldWhileDown() {
            return records == 0 ? 0 : bytesStored / records * emittedWhileDown;
        }

        long callsResumed() {
            return perCall.values().stream().filter(c -> c.segmentsCapturedAfter() > 0).count();
        }

        /** Nothing lost, nothing twice, no media thread in the producer, each call resumed and ended once. */
        void assertNothingLostAndEveryCallEnded() {
            assertThat(sippExit).as("sipp exit code; errors: " + sippErrors).isZero();
            assertThat(stillLive).as("calls still up on the bridge after every caller hung up").isEmpty();
            assertThat(catchUpMs).as("ms until the backlog was stored (-1: never)").isNotNegative();
            assertThat(stored).as("distinct AudioSegments stored of %d emitted", emitted).isEqualTo(emitted);
            assertThat(records).as("records on caller-audio (duplicates)").isEqualTo(emitted);
            assertThat(produceErrors).as("failed produce calls").isZero();
            assertThat(queueFull).as("segments dropped on a full sender queue").isZero();
            assertThat(emittedWhileDown).as("segments emitted while the broker was down").isPositive();
            assertThat(rtpThreadsBlockedOnKafka).as("RTP threads seen blocked in the Kafka producer during the outage").isEmpty();
            assertThat(perCall).as("calls on call-events").hasSize(calls);
            perCall.forEach((call, r) -> {
                assertThat(r.started()).as("CallStarted of " + call).isEqualTo(1);
                assertThat(r.ends()).as("CallEnded of " + call).containsExactly(EndReason.BOT_HANGUP);
                assertThat(r.segmentsCapturedAfter()).as("segments of " + call + " captured after the broker was back").isPositive();
            });
        }
    }

    private final ReliabilityTest test;
    private final String name;
    private final int calls;

    BrokerOutageUnderCalls(ReliabilityTest test, String name, int calls) {
        this.test = test;
        this.name = name;
        this.calls = calls;
    }

    /** How long sipp may run: the longest call plus set-up and tear-down on a busy box. */
    private static long sippSeconds() {
        return CALL_LIMIT_MS / 1000 + 90;
    }

    private static Set<String> stored(Tail tail) {
        Set<String> keys = new HashSet<>();
        for (AudioSegment s : tail.values(Topics.CALLER_AUDIO)) {
            keys.add(s.getCallId() + "/" + s.getUtteranceId() + "/" + s.getSeq());
        }
        return keys;
    }

    /**
     * Starts the bridge and the callers, waits until segments flow, runs {@code takeDown}, waits
     * {@link #DOWN_MS}, runs {@code bringBack} (which returns once the broker answers), waits for the backlog and
     * for {@link #SEGMENTS_AFTER} segments of each call captured after that, hangs up every call from the bridge
     * and counts. Asserts only what the steps need; the verdict is {@link Result#assertNothingLostAndEveryCallEnded}.
     */
    Result run(KafkaSettings kafka, Step takeDown, Step bringBack) throws Exception {
        // A bridge with the calls streaming speech, segments flowing to the broker
        Roles.Bridge bridge = test.keep(new Roles.Bridge(kafka, name + "-bridge", FreePorts.udpAndTcp(), calls + 5, 100, 100));
        Tail tail = test.keep(new Tail(kafka, Roles.SERDE, Topics.CALLER_AUDIO, Topics.CALL_EVENTS));
        Path speech = CallerAudio.speech(test.tmp, "speech", "Hello, I would like to book a table for two people tonight please.",
                0.3, 1.2);
        SippCaller callers = SippCaller.start(test.tmp, "call_stream_until_bye.xml",
                Map.of("AUDIO", speech.toString(), "LOOPS", "-1", "WAIT_MS", Long.toString(CALL_LIMIT_MS)), bridge.sipPort,
                calls, 10, calls, "-timeout", sippSeconds() + "s");   // (the later -timeout wins over SippCaller's 120 s)
        Waits.until(calls + " calls up", WAIT, () -> bridge.liveCalls().size() == calls);
        Waits.until("segments flowing to the broker", WAIT, () -> stored(tail).size() > calls * 10);

        // The outage
        System.out.println("calls up, segments flowing; the outage begins");
        BlockedOnKafka blocked = new BlockedOnKafka();
        blocked.start();
        // The producer's own total of time its sends spent waiting for metadata: exact, where the sampler sees 1 in 100 ms
        double metadataWaitBefore = producerMetric("bridge-" + name + "-bridge", "metadata-wait-time-ns-total");
        long emittedAtStop = bridge.media.segments.sum();
        long downEpochUs = System.currentTimeMillis() * 1000;
        long stopNanos = System.nanoTime();
        takeDown.run();
        long takeDownMs = Waits.msSince(stopNanos);
        Waits.sleep(DOWN_MS);
        long bringBackNanos = System.nanoTime();
        bringBack.run();
        long bringBackMs = Waits.msSince(bringBackNanos);
        long downMs = Waits.msSince(stopNanos);
        long backEpochUs = System.currentTimeMillis() * 1000;
        long emittedAtRestart = bridge.media.segments.sum();
        // (a segment lost or a call stuck must show in the count, not as a timeout: these waits do not fail)
        long catchUpMs = awaitUpTo(CATCH_UP, () -> stored(tail).size() >= emittedAtRestart);
        blocked.stop();
        double metadataWaitNs = producerMetric("bridge-" + name + "-bridge", "metadata-wait-time-ns-total") - metadataWaitBefore;

        // The calls go on until each has audio from after the outage stored (or that never comes: the count shows
        // it), then the bot hangs them up; every segment emitted is given time to arrive
        long resumedMs = awaitUpTo(CATCH_UP, () -> {
            Waits.sleep(500);   // (each look decodes every stored segment)
            Map<String, Integer> after = new HashMap<>();
            for (AudioSegment s : tail.values(Topics.CALLER_AUDIO)) {
                if (s.getCaptureStartUs() >= backEpochUs) {
                    after.merge(s.getCallId().toString(), 1, Integer::sum);
                }
            }
            return after.size() == calls && after.values().stream().allMatch(n -> n >= SEGMENTS_AFTER);
        });
        System.out.printf("every call's audio after the outage stored %d ms after the backlog (-1: not all); hanging up%n",
                resumedMs);
        for (String call : bridge.liveCalls()) {
            bridge.server.hangup(call);
        }
        int sippExit = callers.await(sippSeconds());
        awaitUpTo(Duration.ofSeconds(30), () -> bridge.liveCalls().isEmpty());
        List<String> stillLive = bridge.liveCalls();
        long emitted = bridge.media.segments.sum();
        awaitUpTo(Duration.ofSeconds(30), () -> stored(tail).size() >= emitted);
        Waits.sleep(1000);

        // The count
        List<AudioSegment> segments = tail.values(Topics.CALLER_AUDIO);
        Set<String> keys = stored(tail);
        Map<String, CallRecord> perCall = perCall(tail.values(Topics.CALL_EVENTS), segments, downEpochUs, backEpochUs);
        long bytes = tail.raw(Topics.CALLER_AUDIO).stream().mapToLong(seen -> seen.value().length).sum();
        return new Result(calls, emitted, keys.size(), segments.size(), bytes, emittedAtRestart - emittedAtStop, takeDownMs,
                downMs, bringBackMs, catchUpMs, perCall, stillLive, Set.copyOf(blocked.seen),
                blocked.senderMetadataWaitMs, metadataWaitNs, blocked.senderSummary(), bridge.kafkaErrors("produce"),
                bridge.kafkaErrors("queue_full"), bridge.media.received.sum(), bridge.media.lost.sum(), sippExit,
                callers.errors());
    }

    /** A metric of the producer {@code clientId} from its JMX reporter, NaN if it is not there. */
    static double producerMetric(String clientId, String metric) {
        try {
            var name = new javax.management.ObjectName("kafka.producer:type=producer-metrics,client-id=" + clientId);
            return ((Number) ManagementFactory.getPlatformMBeanServer().getAttribute(name, metric)).doubleValue();
        } catch (Exception e) {
            System.out.println("no producer metric " + metric + " of " + clientId + ": " + e);
            return Double.NaN;
        }
    }

    /** Waits up to {@code timeout} for {@code condition}; returns the milliseconds it took, -1 if it never held. */
    private static long awaitUpTo(Duration timeout, java.util.function.BooleanSupplier condition) {
        try {
            return Waits.until("", timeout, condition);
        } catch (AssertionError timedOut) {
            return -1;
        }
    }

    private static Map<String, CallRecord> perCall(List<CallEvent> events, List<AudioSegment> segments, long downEpochUs,
                                                   long backEpochUs) {
        Map<String, CallRecord> out = new TreeMap<>();
        for (CallEvent e : events) {
            CallRecord r = out.getOrDefault(e.getCallId().toString(), new CallRecord(0, List.of(), 0, 0));
            if (e.getPayload() instanceof CallStarted) {
                r = new CallRecord(r.started() + 1, r.ends(), 0, 0);
            } else if (e.getPayload() instanceof CallEnded ended) {
                r = new CallRecord(r.started(), append(r.ends(), ended.getReason()), 0, 0);
            }
            out.put(e.getCallId().toString(), r);
        }
        for (AudioSegment s : segments) {
            CallRecord r = out.getOrDefault(s.getCallId().toString(), new CallRecord(0, List.of(), 0, 0));
            boolean whileDown = s.getCaptureStartUs() >= downEpochUs && s.getCaptureStartUs() < backEpochUs;
            boolean after = s.getCaptureStartUs() >= backEpochUs;
            out.put(s.getCallId().toString(), new CallRecord(r.started(), r.ends(),
                    r.segmentsCapturedWhileDown() + (whileDown ? 1 : 0), r.segmentsCapturedAfter() + (after ? 1 : 0)));
        }
        return out;
    }

    private static List<EndReason> append(List<EndReason> list, EndReason reason) {
        List<EndReason> out = new java.util.ArrayList<>(list);
        out.add(reason);
        return List.copyOf(out);
    }

    /**
     * Samples every 100 ms during the outage: thread stacks (an RTP receive thread inside KafkaProducer.send would
     * stall media, BUG-2; where the sink's sender thread is inside the producer).
     *
     * <p>Every {@code send} passes through {@code KafkaProducer.waitOnMetadata}: with metadata cached it only reads
     * it and calls {@code ProducerMetadata.add}, a {@code synchronized} method that the producer's network thread
     * contends for while it handles the broker coming back. A sample can catch the sender there, RUNNABLE or BLOCKED
     * for a moment, without any wait for metadata (issue 18: one such sample 17.2 s after the kill failed a run in
     * which nothing was lost). Waiting for metadata is the other branch, {@code ProducerMetadata.awaitUpdate}: that is
     * what {@link #senderMetadataWaitMs} records; the passes are counted in {@link #senderPasses} for the figures.
     */
    private static final class BlockedOnKafka {
        final Set<String> seen = ConcurrentHashMap.newKeySet();
        /** When the sender was first seen waiting for metadata (in ProducerMetadata.awaitUpdate): ms after the outage began, -1 never. */
        volatile long senderMetadataWaitMs = -1;
        volatile String senderMetadataWaitStack = "";
        /** Samples of the sender inside waitOnMetadata (not waiting) or BufferPool.allocate: method -> count, and the first one's stack. */
        final Map<String, Integer> senderPasses = new ConcurrentHashMap<>();
        final Map<String, String> senderPassStack = new ConcurrentHashMap<>();

        private static String describe(java.lang.management.ThreadInfo info) {
            StringBuilder b = new StringBuilder(info.getThreadState().toString());
            if (info.getLockName() != null) {
                b.append(" on ").append(info.getLockName()).append(" held by ").append(info.getLockOwnerName());
            }
            StackTraceElement[] st = info.getStackTrace();
            for (int i = 0; i < Math.min(5, st.length); i++) {
                b.append(" <- ").append(st[i].getClassName().replaceAll(".*\\.", "")).append('.').append(st[i].getMethodName())
                        .append(':').append(st[i].getLineNumber());
            }
            return b.toString();
        }

        String senderSummary() {
            return senderMetadataWaitMs >= 0
                    ? "WAITING FOR METADATA " + senderMetadataWaitMs + " ms after the kill: " + senderMetadataWaitStack
                    : "never waiting for metadata; passes through the send path sampled " + senderPasses + ", first: " + senderPassStack;
        }

        private final long t0 = System.nanoTime();
        private volatile boolean running = true;
        private final Thread thread = new Thread(this::run, "blocked-on-kafka-probe");

        void start() {
            thread.setDaemon(true);
            thread.start();
        }

        void stop() throws InterruptedException {
            running = false;
            thread.join(2000);
        }

        private void run() {
            var mx = ManagementFactory.getThreadMXBean();
            while (running) {
                for (var info : mx.dumpAllThreads(false, false)) {
                    boolean rtp = info.getThreadName().startsWith("rtp-");
                    boolean sender = info.getThreadName().endsWith("-kafka-sender");
                    for (StackTraceElement e : info.getStackTrace()) {
                        boolean inSend = e.getClassName().startsWith("org.apache.kafka.clients.producer")
                                && (e.getMethodName().equals("waitOnMetadata") || e.getMethodName().equals("allocate"));
                        boolean metadataWait = e.getClassName().equals("org.apache.kafka.clients.producer.internals.ProducerMetadata")
                                && e.getMethodName().equals("awaitUpdate");
                        if (inSend && rtp) {
                            seen.add(info.getThreadName() + " in " + e);
                        }
                        if (metadataWait && sender && senderMetadataWaitMs < 0) {
                            senderMetadataWaitMs = Waits.msSince(t0);
                            senderMetadataWaitStack = describe(info);
                        }
                        if (inSend && sender) {
                            senderPasses.merge(e.getMethodName(), 1, Integer::sum);
                            senderPassStack.putIfAbsent(e.getMethodName(), describe(info));
                        }
                    }
                }
                Waits.sleep(100);
            }
        }
    }
}
