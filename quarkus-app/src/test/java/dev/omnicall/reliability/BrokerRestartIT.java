package dev.omnicall.reliability;

import dev.omnicall.reliability.support.Broker;
import dev.omnicall.reliability.support.Figures;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Guarantee: producers are acks=all + idempotent, so a broker outage loses nothing. 20 sipp callers stream
 * espeak-ng speech through a real bridge; the embedded broker (fixed ports, same data directory) is stopped
 * cleanly and started again mid-call. Every AudioSegment the bridge's segmenter emitted must be stored on
 * caller-audio exactly once, and every call must start and end with its CallEvents. {@link BrokerKillIT} is the
 * same with a SIGKILL of a broker process.
 */
@Tag("reliability")
@Timeout(400)
class BrokerRestartIT extends ReliabilityTest {

    private static final int CALLS = Integer.getInteger("reliability.broker-restart.calls", 20);

    @Test
    void shouldStoreEverySegmentAndEndEveryCallWhenTheBrokerRestartsUnderLiveCalls() throws Exception {
        // Given a broker in this JVM on fixed ports and data
        Broker broker = keep(Broker.start(tmp.resolve("kafka"), 3));
        AtomicLong restartMs = new AtomicLong();
        AtomicBoolean cleanMarker = new AtomicBoolean();

        // When 20 live calls stream through a bridge while the broker stops cleanly, stays down 5 s and starts again
        BrokerOutageUnderCalls.Result r = new BrokerOutageUnderCalls(this, "restart-broker", CALLS).run(broker.settings(),
                () -> {
                    broker.stop();
                    cleanMarker.set(broker.hasCleanShutdownMarker());
                },
                () -> restartMs.set(broker.startAgain()));

        Figures.note("broker stopped in %d ms, down %d ms, restarted in %d ms; %d segments emitted while down,"
                + " backlog stored %d ms after restart; RTP packets received %d, lost %d", r.takeDownMs(), r.downMs(),
                restartMs.get(), r.emittedWhileDown(), r.catchUpMs(), r.rtpReceived(), r.rtpLost());
        Figures.line("test=broker-restart calls=%d segments_sent=%d segments_stored=%d lost=%d duplicates=%d"
                        + " emitted_while_down=%d down_ms=%d restart_ms=%d catch_up_ms=%d calls_ended_ok=%d",
                CALLS, r.emitted(), r.stored(), r.lost(), r.duplicates(), r.emittedWhileDown(), r.downMs(),
                restartMs.get(), r.catchUpMs(), r.callsEndedOnce());

        // Then it was a clean stop (Kafka wrote its marker), every emitted segment is stored exactly once, and
        // every call resumed and ended with CallStarted + one CallEnded (the bot's hang-up)
        assertThat(cleanMarker).as("clean-shutdown marker after the stop").isTrue();
        r.assertNothingLostAndEveryCallEnded();
    }
}
