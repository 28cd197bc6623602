package dev.omnicall.bridge.media;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.channels.DatagramChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Issue 16 item 4 (an idle app stays idle): a receive thread with no call sleeps until a call is registered, instead
 * of turning its selector every 10 ms for an idle check with nothing to check; a call registered while it sleeps is
 * received at once, and the thread sleeps again once the call is gone. Wake-ups are the thread's context switches
 * ({@code /proc/self/task/<tid>/status}), which count its turns whatever else the box runs.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class RtpReceiversIdleTest {
    private static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();
    /** A thread turning every 10 ms switches about 100 times in a second; a sleeping one a handful at most. */
    private static final long MAX_IDLE_SWITCHES_PER_SECOND = 5;

    @Test
    void shouldNotWakeWhileNoCallIsRegistered() throws Exception {
        try (RtpReceivers receivers = new RtpReceivers("rxidle-a", 1, false)) {
            Path task = taskOf("rxidle-a-0");
            Thread.sleep(200); // the thread reaches its first select

            assertThat(switchesOver(task, 1000)).as("wake-ups of a receive thread with no call, in 1 s")
                    .isLessThanOrEqualTo(MAX_IDLE_SWITCHES_PER_SECOND);
        }
    }

    @Test
    void shouldReceiveACallRegisteredWhileAsleepAndSleepAgainAfterIt() throws Exception {
        try (RtpReceivers receivers = new RtpReceivers("rxidle-b", 1, false);
             DatagramChannel channel = DatagramChannel.open();
             DatagramSocket caller = new DatagramSocket(new InetSocketAddress(LOOPBACK, 0))) {
            Path task = taskOf("rxidle-b-0");
            Thread.sleep(200);
            channel.bind(new InetSocketAddress(LOOPBACK, 0));
            channel.configureBlocking(false);
            CountDownLatch received = new CountDownLatch(1);
            CountDownLatch idle = new CountDownLatch(3);
            RtpReceivers.Registration r = receivers.register(channel, new RtpReceivers.Endpoint() {
                @Override
                public void onDatagram(byte[] buf, int length, InetSocketAddress from, long arrivalNanos) {
                    received.countDown();
                }

                @Override
                public void onIdle() {
                    idle.countDown();
                }
            });

            // Given a thread asleep with no call, when a call is registered, it is received and checked for idleness
            byte[] datagram = {(byte) 0x80, 0, 0, 1};
            caller.send(new DatagramPacket(datagram, datagram.length, channel.getLocalAddress()));
            assertThat(received.await(2, TimeUnit.SECONDS)).as("datagram of a call registered while the thread slept").isTrue();
            // with a call the thread keeps turning: a silent call hears onIdle every 20 ms
            assertThat(idle.await(5, TimeUnit.SECONDS)).as("three onIdle of a silent call").isTrue();

            // When the call is cancelled, the thread goes back to sleep
            r.cancel();
            Thread.sleep(200);
            assertThat(switchesOver(task, 1000)).as("wake-ups in 1 s after the only call was cancelled")
                    .isLessThanOrEqualTo(MAX_IDLE_SWITCHES_PER_SECOND);
        }
    }

    /** The {@code /proc/self/task/<tid>} directory of the live thread called {@code name} (named once it runs). */
    private static Path taskOf(String name) throws IOException, InterruptedException {
        List<Path> found = List.of();
        for (long deadline = System.nanoTime() + 5_000_000_000L; found.isEmpty() && System.nanoTime() < deadline; ) {
            try (Stream<Path> tasks = Files.list(Path.of("/proc/self/task"))) {
                found = tasks.filter(t -> name.equals(comm(t))).toList();
            }
            if (found.isEmpty()) {
                Thread.sleep(20);
            }
        }
        assertThat(found).as("threads named %s", name).hasSize(1);
        return found.get(0);
    }

    private static String comm(Path task) {
        try {
            return Files.readString(task.resolve("comm")).trim();
        } catch (IOException ended) {
            return "";
        }
    }

    private static long switchesOver(Path task, long millis) throws IOException, InterruptedException {
        long before = switches(task);
        Thread.sleep(millis);
        return switches(task) - before;
    }

    private static long switches(Path task) throws IOException {
        long n = 0;
        for (String line : Files.readAllLines(task.resolve("status"))) {
            if (line.startsWith("voluntary_ctxt_switches:") || line.startsWith("nonvoluntary_ctxt_switches:")) {
                n += Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
            }
        }
        return n;
    }
}
