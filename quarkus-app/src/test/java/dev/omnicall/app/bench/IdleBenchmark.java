package dev.omnicall.app.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * What the all-roles app costs with no call: starts the packaged jar as {@link PipelineBenchmark} does (fresh
 * embedded broker in a scratch directory, tiny checkpoint, free ports, every role), waits until it is ready, lets it
 * settle, then reads the process's CPU time from {@code /proc/<pid>/stat} over a window and prints it as a share of
 * one core, with the threads that used it (from {@code /proc/<pid>/task/<tid>/stat}, grouped by name with digits
 * dropped, so {@code kafka-network-thread-1-...} threads count as one line), the load average, and one
 * {@code key=value} line.
 *
 * <pre>
 * java -cp ... dev.omnicall.app.bench.IdleBenchmark [-Dbench.idle.seconds=60] [-Dbench.idle.settle-s=30]
 *     [-Dbench.idle.runs=1] [-Dbench.app='kafka.fetch.max.wait.ms=10;...'] [-Dbench.jar=...]
 * </pre>
 *
 * The class path is PipelineBenchmark's (quarkus-app README). {@code bench.app} settings apply to every run; each run
 * is a fresh app.
 */
public final class IdleBenchmark {

    private IdleBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        int seconds = Integer.parseInt(prop("bench.idle.seconds", "60"));
        int settle = Integer.parseInt(prop("bench.idle.settle-s", "30"));
        int runs = Integer.parseInt(prop("bench.idle.runs", "1"));
        if (seconds < 1 || settle < 0 || runs < 1) {
            throw new IllegalArgumentException("bench.idle.seconds >= 1, bench.idle.settle-s >= 0, bench.idle.runs >= 1");
        }
        List<String> appProps = Arrays.stream(prop("bench.app", PipelineBenchmark.DEFAULT_APP).split(";")).map(String::trim)
                .filter(s -> !s.isEmpty()).toList();
        Path root = PipelineBenchmark.repoRoot();
        Path jar = Path.of(prop("bench.jar", root.resolve("quarkus-app/target/quarkus-app/quarkus-run.jar").toString()));
        String stamp = LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"));
        Path scratch = Files.createDirectories(root.resolve("quarkus-app/target/bench-idle-" + stamp));
        long hz = clockTicksPerSecond();
        System.out.printf(Locale.ROOT, "idle benchmark: %d run(s), settle %d s, window %d s, app settings %s, jar %s, %d cores,"
                        + " load average %s%n", runs, settle, seconds, appProps, jar, Runtime.getRuntime().availableProcessors(),
                Arrays.toString(CpuSampler.loadAverage()));
        List<Double> shares = new ArrayList<>();
        double loadMax = 0;
        for (int run = 0; run < runs; run++) {
            Path runDir = Files.createDirectories(scratch.resolve("run-" + run));
            try (AppUnderTest app = AppUnderTest.start(jar, root, runDir, appProps, Duration.ofSeconds(180))) {
                long pid = app.process().orElseThrow().pid();
                System.out.printf(Locale.ROOT, "%n=== run %d of %d: %s; ready, settling %d s ===%n", run + 1, runs, app.describe(), settle);
                Thread.sleep(settle * 1000L);
                double loadStart = CpuSampler.loadAverage()[0];
                long before = processTicks(pid);
                Map<String, Long> threadsBefore = threadTicks(pid);
                long t0 = System.nanoTime();
                Thread.sleep(seconds * 1000L);
                long after = processTicks(pid);
                Map<String, Long> threadsAfter = threadTicks(pid);
                double wall = (System.nanoTime() - t0) / 1e9;
                double loadEnd = CpuSampler.loadAverage()[0];
                loadMax = Math.max(loadMax, Math.max(loadStart, loadEnd));
                double share = 100.0 * (after - before) / hz / wall;
                shares.add(share);
                System.out.printf(Locale.ROOT, "app idle over %.1f s: %.1f %% of one core (%d ticks at %d Hz), load average %.2f -> %.2f%n",
                        wall, share, after - before, hz, loadStart, loadEnd);
                System.out.println("busiest threads (ticks over the window, threads of one name pooled):");
                busiest(threadsBefore, threadsAfter).entrySet().stream().limit(12)
                        .forEach(e -> System.out.printf(Locale.ROOT, "  %6d  %s%n", e.getValue(), e.getKey()));
            }
        }
        double[] sorted = shares.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        Map<String, String> keys = new LinkedHashMap<>();
        keys.put("bench", "idle");
        keys.put("runs", String.valueOf(runs));
        keys.put("window_s", String.valueOf(seconds));
        keys.put("settle_s", String.valueOf(settle));
        keys.put("idle_cpu_percent_of_core_median", String.format(Locale.ROOT, "%.1f", sorted[sorted.length / 2]));
        keys.put("idle_cpu_percent_of_core_max", String.format(Locale.ROOT, "%.1f", sorted[sorted.length - 1]));
        keys.put("idle_cpu_percent_of_core_runs", shares.stream().map(s -> String.format(Locale.ROOT, "%.1f", s))
                .reduce((a, b) -> a + "," + b).orElse(""));
        keys.put("load1_max", String.format(Locale.ROOT, "%.2f", loadMax));
        StringBuilder line = new StringBuilder();
        keys.forEach((k, v) -> line.append(line.isEmpty() ? "" : " ").append(k).append('=').append(v));
        System.out.println(line);
    }

    /** utime + stime of the whole process (every thread, those that ended too), in clock ticks. */
    static long processTicks(long pid) throws IOException {
        return ticks(Files.readString(Path.of("/proc", Long.toString(pid), "stat")));
    }

    /** utime + stime per live thread, keyed by {@code name#tid}. */
    static Map<String, Long> threadTicks(long pid) throws IOException {
        Map<String, Long> out = new HashMap<>();
        try (Stream<Path> tasks = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
            for (Path t : tasks.toList()) {
                try {
                    String name = Files.readString(t.resolve("comm")).trim();
                    out.put(name + "#" + t.getFileName(), ticks(Files.readString(t.resolve("stat"))));
                } catch (IOException ended) {
                    // the thread ended between the listing and the read
                }
            }
        }
        return out;
    }

    /** Ticks each thread name used between the two readings (a thread born in the window counts from 0), largest first. */
    static Map<String, Long> busiest(Map<String, Long> before, Map<String, Long> after) {
        Map<String, Long> byName = new TreeMap<>();
        after.forEach((k, v) -> {
            long used = v - before.getOrDefault(k, 0L);
            if (used > 0) {
                byName.merge(k.substring(0, k.lastIndexOf('#')).replaceAll("[0-9]+", "N"), used, Long::sum);
            }
        });
        Map<String, Long> sorted = new LinkedHashMap<>();
        byName.entrySet().stream().sorted(Map.Entry.<String, Long>comparingByValue().reversed())
                .forEach(e -> sorted.put(e.getKey(), e.getValue()));
        return sorted;
    }

    /** Fields 14 and 15 of a {@code stat} line (utime, stime); the name in parentheses may hold spaces. */
    static long ticks(String stat) {
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).trim().split("\\s+");
        // f[0] is field 3 (state): utime is field 14, stime field 15
        return Long.parseLong(f[11]) + Long.parseLong(f[12]);
    }

    private static long clockTicksPerSecond() {
        try {
            Process p = new ProcessBuilder("getconf", "CLK_TCK").redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes()).trim();
            p.waitFor();
            return Long.parseLong(out);
        } catch (IOException | RuntimeException e) {
            return 100;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return 100;
        }
    }

    private static String prop(String key, String fallback) {
        String v = System.getProperty(key);
        return v == null || v.isBlank() ? fallback : v;
    }
}
