package dev.omnicall.reliability;

import dev.omnicall.reliability.proc.BrokerMain;
import dev.omnicall.reliability.support.BrokerProcess;
import dev.omnicall.reliability.support.Figures;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Guarantee: producers are acks=all + idempotent, so even a broker that dies hard loses nothing it acknowledged.
 * The embedded broker runs as its own JVM ({@link BrokerMain}, fixed ports and data directory); 20 sipp callers
 * stream espeak-ng speech through a real bridge; the broker is killed with SIGKILL (no flush, no clean-shutdown
 * marker, in-flight requests cut), stays down 5 s, and a new process on the same ports and data recovers the
 * logs. Every AudioSegment the bridge emitted must be stored on caller-audio exactly once, and every call must
 * resume and end with its CallEvents. {@link BrokerRestartIT} is the clean-stop sibling. Knobs (test JVM
 * properties): {@code reliability.broker-restart.calls} (20), {@code reliability.broker-restart.down-ms} (5000).
 */
@Tag("reliability")
@Timeout(600)   // on a loaded box the broker takes ~50 s to start and as long again to restart, and the calls wait for it
class BrokerKillIT extends ReliabilityTest {

    private static final int CALLS = Integer.getInteger("reliability.broker-restart.calls", 20);

    @Test
    void shouldStoreEverySegmentAndEndEveryCallWhenTheBrokerProcessIsKilledUnderLiveCalls() throws Exception {
        // Given a broker process on fixed ports and data
        BrokerProcess broker = keep(BrokerProcess.start(tmp.resolve("kafka"), 3, tmp.resolve("logs")));
        AtomicLong killMs = new AtomicLong();
        AtomicLong restartMs = new AtomicLong();
        AtomicBoolean markerAfterKill = new AtomicBoolean(true);

        // When 20 live calls stream through a bridge while the broker process is killed -9, stays down 5 s, and a
        // new process starts on the same ports and data (the calls go on until they have resumed)
        BrokerOutageUnderCalls.Result r = new BrokerOutageUnderCalls(this, "kill-broker", CALLS).run(broker.settings(),
                () -> {
                    killMs.set(broker.kill9());
                    markerAfterKill.set(broker.hasCleanShutdownMarker());
                },
                () -> restartMs.set(broker.startAgain()));
        long killToBacklogMs = r.catchUpMs() < 0 ? -1 : r.downMs() + r.catchUpMs();
        List<String> brokerLines = broker.jvm().lines();
        long registrationRefused = brokerLines.stream().filter(l -> l.contains("DUPLICATE_BROKER_REGISTRATION")).count();
        String recovery = String.join("\n  ", brokerLines.stream()
                .filter(l -> l.contains("since no clean shutdown file") || l.contains("Successfully registered broker")
                        || (l.contains("Recovering unflushed segment") && l.contains("caller-audio")))
                .toList());
        Figures.note("broker process killed in %d ms; kill -> broker ready %d ms (new JVM to READY %d ms: %s);"
                        + " %d segments emitted while down; backlog stored %d ms after ready (kill -> backlog %d ms);"
                        + " RTP packets received %d, lost %d; the controller refused the new broker's registration %d times"
                        + " (DUPLICATE_BROKER_REGISTRATION: the killed one's session was still open)%n  %s",
                killMs.get(), r.downMs(), restartMs.get(), broker.readyLine(), r.emittedWhileDown(), r.catchUpMs(),
                killToBacklogMs, r.rtpReceived(), r.rtpLost(), registrationRefused, recovery);
        Figures.note("bridge producer during the outage: sends waited %.0f ns for metadata (metadata-wait-time-ns-total);"
                        + " sender thread %s; segments dropped on a full sender queue %.0f, failed sends %.0f",
                r.senderMetadataWaitNs(), r.senderInProducer(), r.queueFull(), r.produceErrors());
        Figures.line("test=broker-kill9 calls=%d segments_sent=%d segments_stored=%d lost=%d duplicates=%d"
                        + " emitted_while_down=%d kill_to_ready_ms=%d restart_ms=%d catch_up_ms=%d kill_to_backlog_ms=%d"
                        + " calls_started=%d calls_resumed=%d calls_ended_ok=%d unclean=%b registration_refused=%d"
                        + " held_while_down_kb=%d sender_metadata_wait_ns=%.0f",
                CALLS, r.emitted(), r.stored(), r.lost(), r.duplicates(), r.emittedWhileDown(), r.downMs(),
                restartMs.get(), r.catchUpMs(), killToBacklogMs, r.callsStartedOnce(), r.callsResumed(),
                r.callsEndedOnce(), !markerAfterKill.get(), registrationRefused, r.bytesHeldWhileDown() / 1024,
                r.senderMetadataWaitNs());

        // Then the restart was a crash recovery (no clean-shutdown marker), every emitted segment is stored exactly
        // once, and every call resumed and ended with CallStarted + one CallEnded (the bot's hang-up)
        assertThat(markerAfterKill).as("clean-shutdown marker after SIGKILL").isFalse();
        // (BUG-6, its commit says BUG-3) no send waited for metadata: not one nanosecond by the producer's own count
        // from the kill until the backlog was stored, and no sample of the sender in ProducerMetadata.awaitUpdate
        assertThat(r.senderMetadataWaitNs()).as("ns the bridge's sends waited for metadata during the outage").isZero();
        assertThat(r.senderMetadataWaitSeenMs()).as("ms after the kill the bridge's Kafka sender was seen waiting for"
                + " metadata (-1: never); %s", r.senderInProducer()).isEqualTo(-1);
        r.assertNothingLostAndEveryCallEnded();
    }
}
