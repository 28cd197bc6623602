package dev.omnicall.bridge.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class ThreadScheduleTest {

    @Test
    void shouldCountCpuOfTheNamedThreadsOnlyAndSayWhereTheTimeWent() throws Exception {
        assumeTrue(Files.isReadable(Path.of("/proc/self/task")), "Linux schedstat");
        ThreadSchedule schedule = new ThreadSchedule(List.of("sched-test-busy", "sched-test-idle"));
        ThreadSchedule.Snapshot before = schedule.take();
        Thread busy = new Thread(() -> {
            long end = System.nanoTime() + 200_000_000L;
            long x = 0;
            while (System.nanoTime() < end) {
                x += System.nanoTime() & 1;
            }
            if (x == -1) {
                System.out.print("");
            }
        }, "sched-test-busy");
        Thread idle = new Thread(() -> {
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "sched-test-idle");
        busy.start();
        idle.start();
        Thread.sleep(150); // both still alive: a thread's schedstat goes with it
        ThreadSchedule.Snapshot during = schedule.take();
        busy.join();
        idle.join();

        assertThat(during.groups().get("sched-test-busy").cpuNanos() - before.groups().get("sched-test-busy").cpuNanos())
                .as("CPU of the spinning thread after 150 ms").isGreaterThan(20_000_000L);
        assertThat(during.groups().get("sched-test-idle").cpuNanos())
                .as("CPU of the sleeping thread").isLessThan(20_000_000L);
        assertThat(ThreadSchedule.describeSince(before, during))
                .contains("sched-test-busy cpu=").contains("wait/slice=").contains("gc pauses=");
    }
}
