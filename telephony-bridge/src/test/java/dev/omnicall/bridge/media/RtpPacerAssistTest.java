package dev.omnicall.bridge.media;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@link RtpPacer#runOverdue}: a thread that holds a CPU anyway sends the ticks the pacer's own thread has not taken.
 * Here the pacer's only thread is held 120 ms by one sender's tick (as a thread waiting in the run queue is held);
 * a helper thread calls runOverdue every 0.2 ms.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class RtpPacerAssistTest {
    private static final long PERIOD = 20_000_000L;
    private static final String HELPER = "assist-test-helper";

    /** A sender recording when and where it ticked, and whether two threads ever ticked it at once. */
    private static final class Recorder implements RtpPacer.Task {
        final List<long[]> ticks = new CopyOnWriteArrayList<>(); // {scheduled, lateness ns}
        final List<String> threads = new CopyOnWriteArrayList<>();
        final AtomicBoolean inTick = new AtomicBoolean();
        final AtomicInteger overlaps = new AtomicInteger();

        @Override
        public long periodNanos() {
            return PERIOD;
        }

        @Override
        public void tick(long scheduledNanos) {
            if (!inTick.compareAndSet(false, true)) {
                overlaps.incrementAndGet();
            }
            ticks.add(new long[] {scheduledNanos, System.nanoTime() - scheduledNanos});
            threads.add(Thread.currentThread().getName());
            LockSupport.parkNanos(300_000); // a tick takes a while: a helper overlapping it would be seen
            inTick.set(false);
        }
    }

    /**
     * Holds the pacer's thread 120 ms on its first tick there. A tick the helper runs (it may take the staller's first
     * one when the pacer's thread starts late) does not stall: the helper would then be the one held, and the victim's
     * ticks would go out on time on the pacer's thread with nothing for the helper to do (a clean-clone CI run saw 0
     * helper ticks that way).
     */
    private static final class Staller implements RtpPacer.Task {
        final AtomicBoolean stalled = new AtomicBoolean();
        final CountDownLatch released = new CountDownLatch(1);

        @Override
        public long periodNanos() {
            return PERIOD;
        }

        @Override
        public void tick(long scheduledNanos) {
            if (!Thread.currentThread().getName().equals(HELPER) && stalled.compareAndSet(false, true)) {
                LockSupport.parkNanos(120_000_000L);
                released.countDown();
            }
        }
    }

    @Test
    void shouldSendOverdueTicksOnTheHelperOnTheirOwnDeadlinesOneThreadAtATime() throws Exception {
        Result helped = run(true);
        Result alone = run(false);

        // Without help every tick due while the pacer's thread is held waits for it: 100 ms and more
        assertThat(alone.worstLateNanos).as("worst lateness without a helper").isGreaterThan(60_000_000L);
        assertThat(alone.helperTicks).isZero();
        // With help the ticks due meanwhile go out on the helper, within the assist threshold plus its poll
        assertThat(helped.helperTicks).as("ticks sent by the helper").isGreaterThanOrEqualTo(3);
        assertThat(helped.worstHelperLateNanos).as("worst lateness of a tick the helper sent")
                .isLessThan(30_000_000L);
        for (Result r : List.of(helped, alone)) {
            assertThat(r.overlaps).as("a sender ticked by two threads at once").isZero();
            assertThat(r.offGrid).as("deadlines not whole periods apart (the absolute clock)").isZero();
        }
    }

    private record Result(long worstLateNanos, long worstHelperLateNanos, int helperTicks, int overlaps, int offGrid) {}

    private static Result run(boolean help) throws Exception {
        Recorder victim = new Recorder();
        Staller staller = new Staller();
        AtomicBoolean helping = new AtomicBoolean(true);
        try (RtpPacer pacer = new RtpPacer("assist-test-" + help, 1)) {
            long start = System.nanoTime() + 10_000_000L;
            RtpPacer.Handle s = pacer.schedule(staller, start);
            RtpPacer.Handle v = pacer.schedule(victim, start);
            Thread helper = new Thread(() -> {
                while (helping.get()) {
                    if (help) {
                        pacer.runOverdue(1_000_000L);
                    }
                    LockSupport.parkNanos(200_000);
                }
            }, HELPER);
            helper.start();
            // until the pacer's thread was held and let go, then a few periods more
            assertThat(staller.released.await(10, TimeUnit.SECONDS)).as("the pacer's thread was held").isTrue();
            Thread.sleep(60);
            helping.set(false);
            helper.join();
            s.cancel();
            v.cancel();
        }
        long worst = 0;
        long worstHelper = 0;
        int helperTicks = 0;
        int offGrid = 0;
        for (int i = 0; i < victim.ticks.size(); i++) {
            long[] t = victim.ticks.get(i);
            worst = Math.max(worst, t[1]);
            if (victim.threads.get(i).equals(HELPER)) {
                helperTicks++;
                worstHelper = Math.max(worstHelper, t[1]);
            }
            if (i > 0 && Math.floorMod(t[0] - victim.ticks.get(i - 1)[0], PERIOD) != 0) {
                offGrid++;
            }
        }
        return new Result(worst, worstHelper, helperTicks, victim.overlaps.get(), offGrid);
    }
}
