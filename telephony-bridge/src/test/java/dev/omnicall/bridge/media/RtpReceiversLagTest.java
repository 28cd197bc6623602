package dev.omnicall.bridge.media;

import static org.assertj.core.api.Assertions.assertThat;

import dev.omnicall.bridge.OverloadGuard;
import dev.omnicall.bridge.OverloadGuard.LoadSample;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.channels.DatagramChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The receive-lag signal of the overload guard, read through the real receive path: two callers send a 20 ms packet
 * each every 20 ms to one receive thread, which an endpoint holds (as a Silero backlog holds it) for
 * {@value #HOLD_MS} ms. The lag the sampler reports grows while the thread is held (the caller audio waits in the
 * sockets, checked by the burst the thread reads once released), and falls back once the backlog has drained.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class RtpReceiversLagTest {
    private static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();
    private static final long HOLD_MS = 1_600;
    private static final int CALLS = 2;

    @Test
    void shouldReportAGrowingReceiveLagWhileTheReceiveThreadIsHeldAndASmallOneOnceItDrains() throws Exception {
        AtomicBoolean holdNext = new AtomicBoolean();
        CountDownLatch release = new CountDownLatch(1);
        AtomicLong received = new AtomicLong();
        AtomicLong releasedAt = new AtomicLong(Long.MAX_VALUE);
        AtomicLong receivedInFirst300MsAfterRelease = new AtomicLong();
        AtomicBoolean sending = new AtomicBoolean(true);
        List<DatagramChannel> channels = new ArrayList<>();
        try (RtpReceivers receivers = new RtpReceivers("rxlag", 1, false);
             RtpPacer pacer = new RtpPacer("rxlag-pacer", 1);
             DatagramSocket caller = new DatagramSocket(new InetSocketAddress(LOOPBACK, 0))) {
            RtpReceivers.Endpoint endpoint = new RtpReceivers.Endpoint() {
                @Override
                public void onDatagram(byte[] buf, int length, InetSocketAddress from, long arrivalNanos) {
                    received.incrementAndGet();
                    if (arrivalNanos - releasedAt.get() < 300_000_000L && arrivalNanos - releasedAt.get() >= 0) {
                        receivedInFirst300MsAfterRelease.incrementAndGet();
                    }
                    if (holdNext.compareAndSet(true, false)) {
                        try {
                            release.await(10, TimeUnit.SECONDS); // on the receive thread: every call waits
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                    }
                }

                @Override
                public void onIdle() {
                }
            };
            List<SocketAddress> targets = new ArrayList<>();
            for (int i = 0; i < CALLS; i++) {
                DatagramChannel ch = DatagramChannel.open();
                channels.add(ch);
                ch.bind(new InetSocketAddress(LOOPBACK, 0));
                ch.configureBlocking(false);
                receivers.register(ch, endpoint);
                targets.add(ch.getLocalAddress());
            }
            Thread sender = new Thread(() -> {
                byte[] packet = new byte[172]; // 12-byte RTP header + 160 bytes of 20 ms G.711
                packet[0] = (byte) 0x80;
                long next = System.nanoTime();
                while (sending.get()) {
                    for (SocketAddress t : targets) {
                        try {
                            caller.send(new DatagramPacket(packet, packet.length, t));
                        } catch (java.io.IOException e) {
                            return;
                        }
                    }
                    next += 20_000_000L;
                    java.util.concurrent.locks.LockSupport.parkNanos(Math.max(0, next - System.nanoTime()));
                }
            }, "rxlag-callers");
            sender.setDaemon(true);
            sender.start();
            OverloadGuard.LoadSampler sampler = OverloadGuard.measuring(pacer, receivers);

            // Given the thread keeping up with two calls
            Thread.sleep(600);
            LoadSample keepingUp = sampler.sample();
            assertThat(received.get()).as("datagrams before the hold").isGreaterThan(20);

            // When it is held on a datagram: three readings while held
            holdNext.set(true);
            Thread.sleep(500);
            LoadSample held1 = sampler.sample();
            Thread.sleep(500);
            LoadSample held2 = sampler.sample();
            Thread.sleep(500);
            LoadSample held3 = sampler.sample();
            long receivedWhileHeld = received.get();
            Thread.sleep(HOLD_MS - 1_500);
            releasedAt.set(System.nanoTime());
            release.countDown();

            // Then the lag grows with the hold, a reading taken while held covers the turn in progress
            assertThat(holdNext.get()).as("the thread took the datagram that holds it").isFalse();
            assertThat(held1.receiveLagMicros()).as("lag 0.5 s into the hold").isGreaterThanOrEqualTo(300_000);
            assertThat(held2.receiveLagMicros()).as("lag grows: %s then %s", held1, held2)
                    .isGreaterThan(held1.receiveLagMicros() + 300_000);
            assertThat(held3.receiveLagMicros()).as("lag grows: %s then %s", held2, held3)
                    .isGreaterThan(held2.receiveLagMicros() + 300_000);
            assertThat(keepingUp.receiveLagMicros()).as("lag while keeping up: %s", keepingUp)
                    .isLessThan(held1.receiveLagMicros());

            // and what it stood for was real: the callers' datagrams waited in the sockets and come in one burst
            Thread.sleep(1_000);
            long expectedWaiting = CALLS * HOLD_MS / 20;
            assertThat(received.get() - receivedWhileHeld).as("datagrams read after the hold")
                    .isGreaterThanOrEqualTo(expectedWaiting / 2);
            assertThat(receivedInFirst300MsAfterRelease.get()).as("read within 300 ms of the release (%d sent in the"
                    + " hold, %d in 300 ms at the callers' pace)", expectedWaiting, CALLS * 15)
                    .isGreaterThanOrEqualTo(expectedWaiting / 2);

            // When the backlog has drained, the next reading is back under the lag of the hold
            sampler.sample(); // the window with the end of the hold in it
            Thread.sleep(600);
            LoadSample drained = sampler.sample();
            assertThat(drained.receiveLagMicros()).as("lag once drained: %s (held %s)", drained, held3)
                    .isLessThan(held1.receiveLagMicros() / 2);
            sending.set(false);
            sender.join(2_000);
        } finally {
            sending.set(false);
            release.countDown();
            for (DatagramChannel ch : channels) {
                ch.close();
            }
        }
    }
}
