package dev.omnicall.bridge.media;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The pacer ticks every call from one absolute clock: whole milliseconds from its origin, a phase per call. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class RtpPacerClockTest {

    /** A sender that records the deadlines it was ticked for. */
    private static final class Recorder implements RtpPacer.Task {
        final long period;
        final List<Long> deadlines = new CopyOnWriteArrayList<>();

        Recorder(int ptimeMs) {
            this.period = ptimeMs * 1_000_000L;
        }

        @Override
        public long periodNanos() {
            return period;
        }

        @Override
        public void tick(long scheduledNanos) {
            deadlines.add(scheduledNanos);
        }
    }

    @Test
    void shouldTickEveryCallOnOneMillisecondGridWithAbsoluteDeadlinesAndSpreadPhases() throws Exception {
        List<Recorder> tasks = new ArrayList<>();
        List<RtpPacer.Handle> handles = new ArrayList<>();
        try (RtpPacer pacer = new RtpPacer("clock-test", 2)) {
            for (int i = 0; i < 60; i++) {
                Recorder r = new Recorder(i % 3 == 0 ? 30 : 20);
                tasks.add(r);
                // start times scattered like calls answered at any moment
                handles.add(pacer.schedule(r, System.nanoTime() + 20_000_000L + (i * 337_123L) % 9_000_000L));
            }
            // 40 of 20 ms (6 slots of the 120 ms cycle each) and 20 of 30 ms (4 each): 320 over 120 milliseconds
            int busiest = pacer.busiestMillisecond();
            Thread.sleep(400);
            handles.forEach(RtpPacer.Handle::cancel);
            long origin = tasks.get(0).deadlines.get(0);
            for (Recorder r : tasks) {
                assertThat(r.deadlines).as("ticks in 400 ms").hasSizeGreaterThanOrEqualTo(8);
                for (int n = 0; n < r.deadlines.size(); n++) {
                    long d = r.deadlines.get(n);
                    assertThat(Math.floorMod(d - origin, 1_000_000L)).as("deadline on the pacer's millisecond grid").isZero();
                    if (n > 0) {
                        long step = d - r.deadlines.get(n - 1);
                        // one period; whole periods only if a stall of 5 periods re-based it (a loaded box)
                        assertThat(step).as("absolute: whole periods apart").isPositive();
                        assertThat(step % r.period).as("absolute: whole periods apart").isZero();
                    }
                }
            }
            assertThat(busiest).as("senders in the busiest millisecond (all in one: 60)").isLessThanOrEqualTo(4);
            assertThat(pacer.busiestMillisecond()).as("phases released on cancel").isZero();
        }
    }

    @Test
    void shouldStartACallAtTheFirstTickOfItsPhaseNoLaterThanOnePeriod() throws Exception {
        try (RtpPacer pacer = new RtpPacer("clock-start-test", 1)) {
            Recorder r = new Recorder(20);
            long asked = System.nanoTime() + 30_000_000L;
            RtpPacer.Handle h = pacer.schedule(r, asked);
            Thread.sleep(120);
            h.cancel();
            long first = r.deadlines.get(0);
            assertThat(first - asked).as("first deadline after the one asked for").isBetween(0L, 20_000_000L - 1);
            assertThat(h.phaseMillis()).isBetween(0, 19);
        }
    }
}
