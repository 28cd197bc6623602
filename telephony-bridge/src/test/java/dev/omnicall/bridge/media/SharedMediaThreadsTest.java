package dev.omnicall.bridge.media;

import static org.assertj.core.api.Assertions.assertThat;

import dev.omnicall.bridge.codec.MuLaw;
import dev.omnicall.bridge.rtp.RtpPacket;
import dev.omnicall.bridge.vad.VadFactory;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.lang.management.ThreadMXBean;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Issue 17 item 2: no thread per call. Fifty live calls on loopback, each receiving its caller's RTP and sending a
 * reply, are carried by the receive threads and the pacer threads the bridge started with.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class SharedMediaThreadsTest {
    private static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();
    private static final int CALLS = 50;
    private static final int PACKETS = 10;

    @Test
    void shouldCarryFiftyCallsOnTheSameFixedThreadsBothWays() throws Exception {
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        List<MediaSession> sessions = new ArrayList<>();
        List<DatagramSocket> callers = new ArrayList<>();
        try (VadFactory vads = VadFactory.energyOnly(); RtpPacer pacer = new RtpPacer("fixed-pacer", 1);
             RtpReceivers receivers = new RtpReceivers("fixed-rx", 2)) {
            MediaConfig config = MediaConfig.defaults(vads).withPacer(pacer).withReceivers(receivers);
            RtpPortAllocator ports = new RtpPortAllocator(LOOPBACK, 32_000, 32_998);
            Set<String> threadsBefore = threadNames(mx);
            int countBefore = mx.getThreadCount();

            for (int i = 0; i < CALLS; i++) {
                DatagramSocket caller = new DatagramSocket(new InetSocketAddress(LOOPBACK, 0));
                caller.setSoTimeout(2000);
                callers.add(caller);
                MediaSession s = MediaSession.open(config, ports, MuLaw.INSTANCE, i % 2 == 0 ? 20 : 30,
                        (InetSocketAddress) caller.getLocalSocketAddress());
                s.start(new MediaListener() {});
                s.playChunk(0, 0, 0, tone16k(400), true);
                sessions.add(s);
            }
            byte[] silence = MuLaw.INSTANCE.encode(new short[160]);
            for (int n = 0; n < PACKETS; n++) {
                for (int i = 0; i < CALLS; i++) {
                    byte[] rtp = RtpPacket.of(n == 0, 0, n, 160L * n, 7 + i, silence).toBytes();
                    callers.get(i).send(new DatagramPacket(rtp, rtp.length, sessions.get(i).localAddress()));
                }
                Thread.sleep(20);
            }
            // every caller hears its reply (RTP from its own session), every session counts its caller's packets
            int[] heard = new int[CALLS];
            byte[] buf = new byte[1500];
            for (int i = 0; i < CALLS; i++) {
                DatagramSocket caller = callers.get(i);
                while (heard[i] < 3) {
                    DatagramPacket p = new DatagramPacket(buf, buf.length);
                    try {
                        caller.receive(p);
                    } catch (SocketTimeoutException e) {
                        break;
                    }
                    if (p.getPort() == sessions.get(i).localPort()) {
                        heard[i]++;
                    }
                }
            }
            long deadline = System.nanoTime() + 5_000_000_000L;
            while (System.nanoTime() < deadline && sessions.stream().anyMatch(s -> s.stats().packetsReceived() < PACKETS)) {
                Thread.sleep(10);
            }
            int countDuring = mx.getThreadCount();
            Set<String> added = new TreeSet<>(threadNames(mx));
            added.removeAll(threadsBefore);
            Set<String> receiveThreads = new HashSet<>();
            for (MediaSession s : sessions) {
                receiveThreads.add(s.receiveThreadName());
            }
            System.out.printf("%d calls: threads %d before, %d with the calls live; new names %s; receive threads %s;"
                    + " busiest pacer millisecond %d calls%n", CALLS, countBefore, countDuring, added, receiveThreads,
                    pacer.busiestMillisecond());

            for (int i = 0; i < CALLS; i++) {
                assertThat(sessions.get(i).stats().packetsReceived()).as("packets call %d received", i).isEqualTo(PACKETS);
                assertThat(heard[i]).as("reply packets caller %d heard", i).isGreaterThanOrEqualTo(3);
            }
            assertThat(receiveThreads).as("the threads receiving the calls").containsExactlyInAnyOrder("fixed-rx-0", "fixed-rx-1");
            assertThat(receivers.channels()).isEqualTo(CALLS);
            // a thread per call would add 50; the JVM's own (JIT compiler threads) may come and go
            assertThat(countDuring - countBefore).as("threads added while %d calls are live", CALLS).isLessThanOrEqualTo(3);
            assertThat(added).as("no thread named for a call").noneMatch(n -> n.startsWith("rtp-") || n.contains("fixed"));
            // the pacer's phases spread the calls: 25 of 20 ms and 25 of 30 ms over the milliseconds of a period
            assertThat(pacer.busiestMillisecond()).as("calls ticking in the busiest millisecond").isLessThanOrEqualTo(4);

            for (MediaSession s : sessions) {
                s.close();
            }
            assertThat(receivers.channels()).as("channels after every call closed").isZero();
        } finally {
            for (MediaSession s : sessions) {
                s.close();
            }
            for (DatagramSocket c : callers) {
                c.close();
            }
        }
    }

    private static Set<String> threadNames(ThreadMXBean mx) {
        Set<String> names = new HashSet<>();
        for (ThreadInfo t : mx.getThreadInfo(mx.getAllThreadIds())) {
            if (t != null) {
                names.add(t.getThreadName());
            }
        }
        return names;
    }

    private static byte[] tone16k(int ms) {
        byte[] b = new byte[ms * 32];
        for (int i = 0; i < ms * 16; i++) {
            short s = (short) (6000 * Math.sin(2 * Math.PI * 300 * i / 16000.0));
            b[2 * i] = (byte) s;
            b[2 * i + 1] = (byte) (s >> 8);
        }
        return b;
    }
}
