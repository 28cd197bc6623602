package dev.omnicall.bridge.bench;

import java.io.IOException;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Where a benchmark window's time went, per thread group, from what Linux keeps for every thread:
 * {@code /proc/self/task/<tid>/schedstat} holds the time on a CPU, the time spent runnable waiting for one (the
 * run queue), and the number of times it was put on a CPU. A thread that sleeps between short pieces of work (the
 * pacer) and still waits long in the run queue is late because the cores were taken, not because of its own work.
 * Also the JVM's collector pauses (count and summed time, {@link GarbageCollectorMXBean}).
 *
 * <p>Linux only; elsewhere {@link #take} returns an empty snapshot and {@link #describeSince} says so.
 */
final class ThreadSchedule {
    /** Summed over the threads whose name starts with one of the prefixes: ns on CPU, ns in the run queue, slices. */
    record Group(long cpuNanos, long waitNanos, long slices) {}

    record Snapshot(Map<String, Group> groups, long gcCount, long gcMillis) {}

    private final List<String> prefixes;

    ThreadSchedule(List<String> prefixes) {
        this.prefixes = prefixes;
    }

    Snapshot take() {
        Map<String, long[]> sums = new LinkedHashMap<>();
        for (String p : prefixes) {
            sums.put(p, new long[3]);
        }
        try (DirectoryStream<Path> tasks = Files.newDirectoryStream(Path.of("/proc/self/task"))) {
            for (Path task : tasks) {
                String name;
                String[] stat;
                try {
                    name = Files.readString(task.resolve("comm")).trim();
                    stat = Files.readString(task.resolve("schedstat")).trim().split(" ");
                } catch (IOException e) {
                    continue; // the thread ended
                }
                for (String p : prefixes) {
                    if (name.startsWith(p) && stat.length >= 3) {
                        long[] s = sums.get(p);
                        for (int i = 0; i < 3; i++) {
                            s[i] += Long.parseLong(stat[i]);
                        }
                        break;
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            sums.clear();
        }
        Map<String, Group> groups = new LinkedHashMap<>();
        sums.forEach((k, v) -> groups.put(k, new Group(v[0], v[1], v[2])));
        long gcCount = 0;
        long gcMillis = 0;
        for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
            if (gc.getCollectionCount() > 0) {
                gcCount += gc.getCollectionCount();
                gcMillis += gc.getCollectionTime();
            }
        }
        return new Snapshot(groups, gcCount, gcMillis);
    }

    /** One line: per group CPU and run-queue wait in ms over the window and the mean wait per slice, then GC. */
    static String describeSince(Snapshot before, Snapshot after) {
        StringBuilder b = new StringBuilder();
        if (after.groups().isEmpty()) {
            b.append("schedstat unreadable");
        }
        after.groups().forEach((name, a) -> {
            Group o = before.groups().getOrDefault(name, new Group(0, 0, 0));
            long slices = a.slices() - o.slices();
            long wait = a.waitNanos() - o.waitNanos();
            b.append(String.format(Locale.ROOT, "%s cpu=%dms wait=%dms slices=%d wait/slice=%dus  ", name,
                    (a.cpuNanos() - o.cpuNanos()) / 1_000_000, wait / 1_000_000, slices,
                    slices == 0 ? 0 : wait / slices / 1000));
        });
        b.append(String.format(Locale.ROOT, "gc pauses=%d gc_ms=%d", after.gcCount() - before.gcCount(),
                after.gcMillis() - before.gcMillis()));
        return b.toString().trim();
    }
}
