package dev.omnicall.reliability;

import dev.omnicall.bridge.testing.FreePorts;

import dev.omnicall.events.AudioSegment;
import dev.omnicall.events.CallEnded;
import dev.omnicall.events.CallEvent;
import dev.omnicall.events.CallStarted;
import dev.omnicall.events.EndReason;
import dev.omnicall.kafka.Topics;
import dev.omnicall.reliability.support.Broker;
import dev.omnicall.reliability.support.CallerAudio;
import dev.omnicall.reliability.support.Figures;
import dev.omnicall.reliability.support.Roles;
import dev.omnicall.reliability.support.SippCaller;
import dev.omnicall.reliability.support.Tail;
import dev.omnicall.reliability.support.Waits;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Guarantee: producers are acks=all + idempotent, so a broker outage loses nothing. 20 sipp callers stream
 * espeak-ng speech through a real bridge; the embedded broker (fixed ports, same data directory) is stopped
 * and started again mid-call. Every AudioSegment the bridge's segmenter emitted must be stored on
 * caller-audio exactly once, and every call must start and end with its CallEvents.
 */
@Tag("reliability")
@Timeout(400)
class BrokerRestartIT extends ReliabilityTest {

    private static final Duration WAIT = Duration.ofSeconds(120);
    private static final int CALLS = Integer.getInteger("reliability.broker-restart.calls", 20);
    private static final long DOWN_MS = 5000;

    private static Set<String> stored(Tail tail) {
        Set<String> keys = new HashSet<>();
        for (AudioSegment s : tail.values(Topics.CALLER_AUDIO)) {
            keys.add(s.getCallId() + "/" + s.getUtteranceId() + "/" + s.getSeq());
        }
        return keys;
    }

    /** Samples thread stacks during the outage: an RTP receive thread inside KafkaProducer.send would stall media. */
    private static final class BlockedOnKafka {
        final java.util.Set<String> seen = java.util.concurrent.ConcurrentHashMap.newKeySet();
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
            var mx = java.lang.management.ManagementFactory.getThreadMXBean();
            while (running) {
                for (var info : mx.dumpAllThreads(false, false)) {
                    if (info.getThreadName().startsWith("rtp-")) {
                        for (StackTraceElement e : info.getStackTrace()) {
                            if (e.getClassName().startsWith("org.apache.kafka.clients.producer")
                                    && (e.getMethodName().equals("waitOnMetadata") || e.getMethodName().equals("allocate"))) {
                                seen.add(info.getThreadName() + " in " + e);
                            }
                        }
                    }
                }
                Waits.sleep(100);
            }
        }
    }

    @Test
    void shouldStoreEverySegmentAndEndEveryCallWhenTheBrokerRestartsUnderLiveCalls() throws Exception {
        // Given a bridge with 20 live calls streaming speech
        Broker broker = keep(Broker.start(tmp.resolve("kafka"), 3));
        Roles.Bridge bridge = keep(new Roles.Bridge(broker.settings(), "restart-broker-bridge", FreePorts.udpAndTcp(),
                CALLS + 5, 100, 100));
        Tail tail = keep(new Tail(broker.settings(), Roles.SERDE, Topics.CALLER_AUDIO, Topics.CALL_EVENTS));
        Path speech = CallerAudio.speech(tmp, "speech", "Hello, I would like to book a table for two people tonight please.",
                0.3, 1.2);
        SippCaller callers = SippCaller.start(tmp, "call_stream_bye.xml",
                Map.of("AUDIO", speech.toString(), "LOOPS", "-1", "PAUSE_MS", "30000"), bridge.sipPort, CALLS, 10, CALLS);
        Waits.until(CALLS + " calls up", WAIT, () -> bridge.liveCalls().size() == CALLS);
        Waits.until("segments flowing to the broker", WAIT, () -> stored(tail).size() > CALLS * 10);

        // When the broker stops for 5 s and starts again on the same ports and data
        long emittedAtStop = bridge.media.segments.sum();
        long stopNanos = System.nanoTime();
        BlockedOnKafka blocked = new BlockedOnKafka();
        blocked.start();
        broker.stop();
        long stopMs = Waits.msSince(stopNanos);
        Waits.sleep(DOWN_MS);
        long emittedWhileDown = bridge.media.segments.sum() - emittedAtStop;
        long restartMs = broker.startAgain();
        long downMs = Waits.msSince(stopNanos);
        long emittedAtRestart = bridge.media.segments.sum();
        long catchUpMs = Waits.until("the backlog stored", WAIT, () -> stored(tail).size() >= emittedAtRestart);
        blocked.stop();

        // Then the calls run on to their normal end
        assertThat(callers.await(120)).as(callers.errors()).isZero();
        Waits.until("every call ended", WAIT, () -> bridge.liveCalls().isEmpty());
        long emitted = bridge.media.segments.sum();
        Waits.until("every segment stored", WAIT, () -> stored(tail).size() >= emitted);
        Waits.sleep(1000);

        // And every emitted segment is stored exactly once
        Set<String> keys = stored(tail);
        long records = tail.values(Topics.CALLER_AUDIO).size();
        assertThat(keys).hasSize((int) emitted);
        assertThat(records).as("duplicates on caller-audio").isEqualTo(emitted);
        assertThat(bridge.kafkaErrors("produce")).isZero();
        assertThat(blocked.seen).as("RTP threads seen blocked in the Kafka producer during the outage").isEmpty();

        // And every call has its CallStarted and a CallEnded(CALLER_HANGUP)
        List<CallEvent> events = tail.values(Topics.CALL_EVENTS);
        long started = events.stream().filter(e -> e.getPayload() instanceof CallStarted).count();
        List<EndReason> ends = events.stream().filter(e -> e.getPayload() instanceof CallEnded)
                .map(e -> ((CallEnded) e.getPayload()).getReason()).toList();
        assertThat(started).isEqualTo(CALLS);
        assertThat(ends).hasSize(CALLS).containsOnly(EndReason.CALLER_HANGUP);
        Figures.note("broker stopped in %d ms, down %d ms, restarted in %d ms; %d segments emitted while down,"
                + " backlog stored %d ms after restart", stopMs, downMs, restartMs, emittedWhileDown, catchUpMs);
        Figures.line("test=broker-restart calls=%d segments_sent=%d segments_stored=%d lost=%d duplicates=%d"
                        + " emitted_while_down=%d down_ms=%d restart_ms=%d catch_up_ms=%d calls_ended_ok=%d",
                CALLS, emitted, keys.size(), emitted - keys.size(), records - keys.size(), emittedWhileDown, downMs,
                restartMs, catchUpMs, ends.size());
    }
}
