package dev.omnicall.app.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * What the all-roles app costs with no call: starts the packaged jar as {@link PipelineBenchmark} does (fresh
 * embedded broker in a scratch directory, tiny checkpoint, free ports, every role), waits until it is ready, lets it
 * settle, then reads the process's CPU time from {@code /proc/<pid>/stat} over a window and prints it as a share of
 * one core, with the threads that used it (from {@code /proc/<pid>/task/<tid>/stat}, grouped by their full Java name
 * from {@code jcmd <pid> Thread.print} with digits dropped, so {@code kafka-network-thread-1-...} threads count as one
 * line), the load average, and one {@code key=value} line. {@code bench.idle.windows} measures that many windows in a
 * row, so the later ones show what is left once start-up compilation (the JIT) has settled.
 *
 * <pre>
 * java -cp ... dev.omnicall.app.bench.IdleBenchmark [-Dbench.idle.seconds=60] [-Dbench.idle.settle-s=0]
 *     [-Dbench.idle.runs=1] [-Dbench.idle.windows=1] [-Dbench.idle.ready-s=420] [-Dbench.app='kafka.fetch.max.wait.ms=10;...'] [-Dbench.jar=...]
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
        // the issue's window: the first 60 s after the app reports ready (30 s later until session 13)
        int settle = Integer.parseInt(prop("bench.idle.settle-s", "0"));
        int runs = Integer.parseInt(prop("bench.idle.runs", "1"));
        // consecutive windows per run: the later ones show what is left once start-up compilation has settled
        int windows = Integer.parseInt(prop("bench.idle.windows", "1"));
        // a loaded 2-core box took over 180 s to start the app (session 10)
        int readySeconds = Integer.parseInt(prop("bench.idle.ready-s", "420"));
        if (seconds < 1 || settle < 0 || runs < 1 || windows < 1) {
            throw new IllegalArgumentException("bench.idle.seconds >= 1, bench.idle.settle-s >= 0, bench.idle.runs >= 1,"
                    + " bench.idle.windows >= 1");
        }
        List<String> appProps = Arrays.stream(prop("bench.app", PipelineBenchmark.DEFAULT_APP).split(";")).map(String::trim)
                .filter(s -> !s.isEmpty()).toList();
        Path root = PipelineBenchmark.repoRoot();
        Path jar = Path.of(prop("bench.jar", root.resolve("quarkus-app/target/quarkus-app/quarkus-run.jar").toString()));
        String stamp = LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"));
        // the pid too: two benchmarks started in the same second (jars compared side by side) must not share a broker
        Path scratch = Files.createDirectories(root.resolve("quarkus-app/target/bench-idle-" + stamp + "-"
                + ProcessHandle.current().pid()));
        long hz = clockTicksPerSecond();
        System.out.printf(Locale.ROOT, "idle benchmark: %d run(s), settle %d s, %d window(s) of %d s, app settings %s, jar %s, %d cores,"
                        + " load average %s%n", runs, settle, windows, seconds, appProps, jar, Runtime.getRuntime().availableProcessors(),
                Arrays.toString(CpuSampler.loadAverage()));
        List<Double> shares = new ArrayList<>();
        List<Double> sharesNoJit = new ArrayList<>();
        List<Double> wakeups = new ArrayList<>();
        List<Double> lastShares = new ArrayList<>();
        List<Double> lastSharesNoJit = new ArrayList<>();
        String firstTop = "";
        double loadMax = 0;
        for (int run = 0; run < runs; run++) {
            Path runDir = Files.createDirectories(scratch.resolve("run-" + run));
            try (AppUnderTest app = AppUnderTest.start(jar, root, runDir, appProps, Duration.ofSeconds(readySeconds))) {
                long pid = app.process().orElseThrow().pid();
                System.out.printf(Locale.ROOT, "%n=== run %d of %d: %s; ready, settling %d s ===%n", run + 1, runs, app.describe(), settle);
                Thread.sleep(settle * 1000L);
                List<Window> measured = new ArrayList<>();
                for (int w = 0; w < windows; w++) {
                    measured.add(Window.measure(pid, seconds, hz));
                }
                // after the windows: jcmd's attach starts threads of its own, and it must not count
                Map<Long, String> fullNames = threadNames(pid);
                for (int w = 0; w < windows; w++) {
                    Window m = measured.get(w);
                    loadMax = Math.max(loadMax, Math.max(m.loadStart(), m.loadEnd()));
                    System.out.printf(Locale.ROOT, "window %d of %d (%d-%d s after settling): %.1f %% of one core (%d ticks at %d Hz),"
                                    + " %.1f %% without the JIT compiler threads, %.0f thread wake-ups/s, load average %.2f -> %.2f%n",
                            w + 1, windows, w * seconds, (w + 1) * seconds, m.share(), m.ticks(), hz, m.shareNoJit(),
                            m.wakeupsPerSecond(), m.loadStart(), m.loadEnd());
                    System.out.println("threads (ticks and wake-ups per second over the window, threads of one name pooled):");
                    busiest(m.threadsBefore(), m.threadsAfter(), fullNames).entrySet().stream()
                            .filter(e -> e.getValue().ticks() > 0 || e.getValue().switches() >= m.wall())
                            .forEach(e -> System.out.printf(Locale.ROOT, "  %6d  %7.1f/s  %s%n", e.getValue().ticks(),
                                    e.getValue().switches() / m.wall(), e.getKey()));
                }
                Window first = measured.get(0);
                firstTop = topThreads(busiest(first.threadsBefore(), first.threadsAfter(), fullNames), TOP_THREADS);
                Window last = measured.get(windows - 1);
                shares.add(first.share());
                sharesNoJit.add(first.shareNoJit());
                wakeups.add(first.wakeupsPerSecond());
                lastShares.add(last.share());
                lastSharesNoJit.add(last.shareNoJit());
            }
        }
        Map<String, String> keys = new LinkedHashMap<>();
        keys.put("bench", "idle");
        keys.put("runs", String.valueOf(runs));
        keys.put("window_s", String.valueOf(seconds));
        keys.put("settle_s", String.valueOf(settle));
        keys.put("windows", String.valueOf(windows));
        keys.put("idle_cpu_percent_of_core_median", String.format(Locale.ROOT, "%.1f", median(shares)));
        keys.put("idle_cpu_percent_of_core_max", String.format(Locale.ROOT, "%.1f", shares.stream().mapToDouble(d -> d).max().orElse(0)));
        keys.put("idle_cpu_percent_of_core_runs", shares.stream().map(s -> String.format(Locale.ROOT, "%.1f", s))
                .reduce((a, b) -> a + "," + b).orElse(""));
        keys.put("idle_cpu_no_jit_percent_median", String.format(Locale.ROOT, "%.1f", median(sharesNoJit)));
        keys.put("wakeups_per_s_median", String.format(Locale.ROOT, "%.0f", median(wakeups)));
        if (windows > 1) {
            keys.put("last_window_idle_cpu_percent_of_core_median", String.format(Locale.ROOT, "%.1f", median(lastShares)));
            keys.put("last_window_idle_cpu_no_jit_percent_median", String.format(Locale.ROOT, "%.1f", median(lastSharesNoJit)));
        }
        keys.put("first_window_top_ticks", firstTop);
        keys.put("load1_max", String.format(Locale.ROOT, "%.2f", loadMax));
        StringBuilder line = new StringBuilder();
        keys.forEach((k, v) -> line.append(line.isEmpty() ? "" : " ").append(k).append('=').append(v));
        System.out.println(line);
    }

    /** One measuring window: the process's ticks and every thread's ticks and switches at both ends. */
    record Window(long ticks, double wall, long jitTicks, long switches, double loadStart, double loadEnd,
                  Map<String, ThreadUse> threadsBefore, Map<String, ThreadUse> threadsAfter, long hz) {

        static Window measure(long pid, int seconds, long hz) throws IOException, InterruptedException {
            double loadStart = CpuSampler.loadAverage()[0];
            long before = processTicks(pid);
            Map<String, ThreadUse> threadsBefore = threadUse(pid);
            long t0 = System.nanoTime();
            Thread.sleep(seconds * 1000L);
            long after = processTicks(pid);
            Map<String, ThreadUse> threadsAfter = threadUse(pid);
            double wall = (System.nanoTime() - t0) / 1e9;
            Map<String, ThreadUse> used = busiest(threadsBefore, threadsAfter, Map.of());
            long jit = used.entrySet().stream().filter(e -> isJit(e.getKey())).mapToLong(e -> e.getValue().ticks()).sum();
            long switches = used.values().stream().mapToLong(ThreadUse::switches).sum();
            return new Window(after - before, wall, jit, switches, loadStart, CpuSampler.loadAverage()[0], threadsBefore,
                    threadsAfter, hz);
        }

        double share() {
            return 100.0 * ticks / hz / wall;
        }

        double shareNoJit() {
            return 100.0 * (ticks - jitTicks) / hz / wall;
        }

        double wakeupsPerSecond() {
            return switches / wall;
        }
    }

    /** How many of the busiest threads the key=value line names. */
    static final int TOP_THREADS = 6;

    /**
     * The {@code n} busiest pooled threads as {@code name:ticks,...} for the key=value line: spaces, commas and
     * {@code =} in names become {@code _}, and a Streams thread's client id is dropped ({@code omnicall-streams-StreamThread-N}).
     */
    static String topThreads(Map<String, ThreadUse> busiest, int n) {
        return busiest.entrySet().stream().limit(n)
                .map(e -> e.getKey().replaceAll("-[0-9a-zA-Z]+(-[0-9a-zA-Z]+){4}-StreamThread", "-StreamThread")
                        .replaceAll("[\\s,=]+", "_") + ":" + e.getValue().ticks())
                .reduce((a, b) -> a + "," + b).orElse("");
    }

    private static double median(List<Double> values) {
        double[] sorted = values.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        return sorted[sorted.length / 2];
    }

    /** HotSpot's compiler threads ({@code C1 CompilerThre}, {@code C2 CompilerThre}): start-up work, not idle work. */
    static boolean isJit(String pooledName) {
        return pooledName.contains("CompilerThre");
    }

    /**
     * One thread's CPU ticks (utime + stime) and context switches (voluntary + involuntary): an idle thread switches
     * out once per wake-up, so the switches count its wake-ups whatever else keeps the box's cores busy.
     */
    record ThreadUse(long ticks, long switches) {
        ThreadUse minus(ThreadUse earlier) {
            return new ThreadUse(ticks - earlier.ticks, switches - earlier.switches);
        }

        ThreadUse plus(ThreadUse other) {
            return new ThreadUse(ticks + other.ticks, switches + other.switches);
        }
    }

    /** utime + stime of the whole process (every thread, those that ended too), in clock ticks. */
    static long processTicks(long pid) throws IOException {
        return ticks(Files.readString(Path.of("/proc", Long.toString(pid), "stat")));
    }

    /** Ticks and context switches per live thread, keyed by {@code name#tid}. */
    static Map<String, ThreadUse> threadUse(long pid) throws IOException {
        Map<String, ThreadUse> out = new HashMap<>();
        try (Stream<Path> tasks = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
            for (Path t : tasks.toList()) {
                try {
                    String name = Files.readString(t.resolve("comm")).trim();
                    out.put(name + "#" + t.getFileName(), new ThreadUse(ticks(Files.readString(t.resolve("stat"))),
                            switches(Files.readString(t.resolve("status")))));
                } catch (IOException ended) {
                    // the thread ended between the listing and the read
                }
            }
        }
        return out;
    }

    /**
     * What each thread name used between the two readings (a thread born in the window counts from 0; digits in
     * names become N, so a pool's threads make one line), by ticks then wake-ups, largest first. A thread's name is its
     * full Java name from {@code fullNames} (by tid) when there, else its kernel name (cut at 15 characters).
     */
    static Map<String, ThreadUse> busiest(Map<String, ThreadUse> before, Map<String, ThreadUse> after,
                                          Map<Long, String> fullNames) {
        Map<String, ThreadUse> byName = new TreeMap<>();
        after.forEach((k, v) -> {
            ThreadUse used = v.minus(before.getOrDefault(k, new ThreadUse(0, 0)));
            if (used.ticks() > 0 || used.switches() > 0) {
                int hash = k.lastIndexOf('#');
                String name = fullNames.getOrDefault(Long.parseLong(k.substring(hash + 1)), k.substring(0, hash));
                byName.merge(name.replaceAll("[0-9]+", "N"), used, ThreadUse::plus);
            }
        });
        Map<String, ThreadUse> sorted = new LinkedHashMap<>();
        byName.entrySet().stream().sorted(Comparator.comparingLong((Map.Entry<String, ThreadUse> e) -> e.getValue().ticks())
                        .thenComparingLong(e -> e.getValue().switches()).reversed())
                .forEach(e -> sorted.put(e.getKey(), e.getValue()));
        return sorted;
    }

    /** Full Java thread names by OS thread id, from {@code jcmd <pid> Thread.print}; empty when jcmd fails. */
    static Map<Long, String> threadNames(long pid) {
        Path jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd");
        try {
            Process p = new ProcessBuilder(jcmd.toString(), Long.toString(pid), "Thread.print").redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            p.waitFor();
            return parseThreadNames(out);
        } catch (IOException e) {
            System.out.println("(jcmd failed, kernel thread names only: " + e.getMessage() + ")");
            return Map.of();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Map.of();
        }
    }

    private static final Pattern THREAD_HEADER =
            Pattern.compile("^\"(.*)\" .*\\bnid=(0x[0-9a-fA-F]+|[0-9]+)\\b.*$", Pattern.MULTILINE);

    /** Thread dump header lines ({@code "name" #12 daemon ... nid=0x1a2b ...}; JDK 19+ writes nid in decimal) by tid. */
    static Map<Long, String> parseThreadNames(String threadDump) {
        Map<Long, String> names = new HashMap<>();
        Matcher m = THREAD_HEADER.matcher(threadDump);
        while (m.find()) {
            String nid = m.group(2);
            names.put(nid.startsWith("0x") ? Long.parseLong(nid.substring(2), 16) : Long.parseLong(nid), m.group(1));
        }
        return names;
    }

    /** voluntary_ctxt_switches + nonvoluntary_ctxt_switches of a {@code status} file. */
    static long switches(String status) {
        long n = 0;
        for (String line : status.split("\n")) {
            if (line.startsWith("voluntary_ctxt_switches:") || line.startsWith("nonvoluntary_ctxt_switches:")) {
                n += Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
            }
        }
        return n;
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
