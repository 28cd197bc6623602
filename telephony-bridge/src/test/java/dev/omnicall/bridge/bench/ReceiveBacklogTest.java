package dev.omnicall.bridge.bench;

import static org.assertj.core.api.Assertions.assertThat;

import dev.omnicall.bridge.codec.MuLaw;
import dev.omnicall.bridge.media.MediaConfig;
import dev.omnicall.bridge.media.MediaListener;
import dev.omnicall.bridge.media.MediaSession;
import dev.omnicall.bridge.media.MediaStats;
import dev.omnicall.bridge.media.RtpPacer;
import dev.omnicall.bridge.media.RtpPortAllocator;
import dev.omnicall.bridge.media.RtpReceivers;
import dev.omnicall.bridge.media.Segment;
import dev.omnicall.bridge.vad.VadFactory;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * What happens to caller audio when the receive thread falls behind (Silero not keeping up at 1000 calls on 2 cores:
 * the load benchmark ran 173,000 of 250,000 due frames in its window). No frame is skipped: the receive thread takes
 * every datagram in turn and every frame it completes goes through the gate and Silero, only later; the datagrams wait
 * in the kernel's socket buffer. When the thread is behind by more than that buffer holds (~13 s of one call's 20 ms
 * packets in the 512 KB the kernel gives MediaSession's 256 KB request), the kernel drops the newest datagrams, and the bridge counts them as lost from
 * the RTP sequence gaps (RFC 3550). Here the one receive thread is held 18 s by a listener (as a long VAD backlog
 * holds it) while 4 callers talk; checked: every packet the callers sent was received (and its speech published) or
 * counted lost, and the kernel did drop some.
 */
class ReceiveBacklogTest {
    private static final int CALLS = 4;
    /** Longer than a call's socket buffer holds: MediaSession asks for 256 KB, Linux doubles it, ~13 s of packets. */
    private static final long HOLD_MS = 18_000;

    @Test
    @Timeout(120)
    void shouldCountEveryPacketTheKernelDroppedWhileTheReceiveThreadWasBehindAndPublishTheRest() throws Exception {
        short[] speech = MediaLoadBenchmark.speech8k();
        InetAddress lo = InetAddress.getLoopbackAddress();
        LongAdder segmentMicros = new LongAdder();
        AtomicBoolean held = new AtomicBoolean();
        MediaListener listener = new MediaListener() {
            @Override
            public void onSegment(Segment s) {
                segmentMicros.add(s.durationMicros());
                if (held.compareAndSet(false, true)) {
                    try {
                        Thread.sleep(HOLD_MS); // on the receive thread: every call's datagrams wait in the kernel
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            }
        };
        List<MediaSession> sessions = new ArrayList<>();
        try (VadFactory vads = VadFactory.create(); RtpPacer pacer = new RtpPacer("backlog-test-pacer", 1);
             RtpReceivers receivers = new RtpReceivers("backlog-test-rx", 1);
             RtpLoadGenerator callers = new RtpLoadGenerator(speech)) {
            MediaConfig config = MediaConfig.defaults(vads).withPacer(pacer).withReceivers(receivers)
                    .withBargeInMinSpeechMs(Integer.MAX_VALUE / 2);
            RtpPortAllocator ports = new RtpPortAllocator(lo, 50_000, 50_998);
            for (int i = 0; i < CALLS; i++) {
                RtpLoadGenerator.Caller caller = callers.addCaller(new InetSocketAddress(lo, 0));
                MediaSession s = MediaSession.open(config, ports, MuLaw.INSTANCE, 20, caller.localAddress());
                caller.bridge = s.localAddress();
                sessions.add(s);
            }
            for (MediaSession s : sessions) {
                s.start(listener);
            }
            callers.start();
            Thread.sleep(HOLD_MS + 4_000);
            callers.stopSending();
            // the backlog drains; then nothing more arrives
            long stableSince = System.nanoTime();
            long last = -1;
            while (System.nanoTime() - stableSince < 1_500_000_000L) {
                long now = 0;
                for (MediaSession s : sessions) {
                    now += s.stats().packetsReceived();
                }
                if (now != last) {
                    last = now;
                    stableSince = System.nanoTime();
                }
                Thread.sleep(100);
            }
            long sent = callers.sent.get();
            long received = 0;
            long lost = 0;
            for (MediaSession s : sessions) {
                MediaStats st = s.stats();
                received += st.packetsReceived();
                lost += st.packetsLost() + st.packetsLate();
            }
            double segmentSeconds = segmentMicros.sum() / 1e6;
            System.out.printf("receive backlog test: callers sent %d packets (%.1f s), bridge received %d, counted lost %d,"
                    + " segment audio %.1f s%n", sent, sent * 0.020, received, lost, segmentSeconds);

            assertThat(held).as("the receive thread was held").isTrue();
            assertThat(lost).as("datagrams the kernel dropped while the thread was behind, counted").isPositive();
            // a datagram dropped after the last one received is no sequence gap: at most a packet or two a call
            assertThat(received + lost).as("every packet sent is received or counted lost")
                    .isBetween(sent - 2L * CALLS, sent);
            assertThat(segmentSeconds).as("the speech of what was received is published (VAD ran late, not never)")
                    .isGreaterThanOrEqualTo(0.7 * received * 0.020);
        } finally {
            for (MediaSession s : sessions) {
                s.close();
            }
        }
    }
}
