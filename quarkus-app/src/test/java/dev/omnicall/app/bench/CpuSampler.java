package dev.omnicall.app.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * What the machine spent during a round, from Linux's {@code /proc}: the busy share of all cores
 * ({@code /proc/stat}), the 1-minute load average at the end, and the CPU time of the app and sipp
 * processes (their {@link ProcessHandle} totals, sampled while they live).
 */
final class CpuSampler {

    private final long[] startStat;
    private final Optional<ProcessHandle> app;
    private final Duration appStart;
    private Duration sippCpu = Duration.ZERO;
    private double loadMax;

    CpuSampler(Optional<ProcessHandle> app) {
        this.startStat = procStat();
        this.app = app;
        this.appStart = app.flatMap(p -> p.info().totalCpuDuration()).orElse(Duration.ZERO);
        this.loadMax = loadAverage()[0];
    }

    /** Called about once a second while the round runs. */
    void sample(Optional<ProcessHandle> sipp) {
        sipp.flatMap(p -> p.info().totalCpuDuration()).ifPresent(d -> sippCpu = d);
        loadMax = Math.max(loadMax, loadAverage()[0]);
    }

    Result finish(long wallMillis) {
        long[] end = procStat();
        long total = (end[0] - startStat[0]);
        long idle = (end[1] - startStat[1]);
        double busy = total <= 0 ? Double.NaN : 100.0 * (total - idle) / total;
        double appCpuSeconds = app.flatMap(p -> p.info().totalCpuDuration())
                .map(d -> (d.toMillis() - appStart.toMillis()) / 1000.0).orElse(Double.NaN);
        double[] load = loadAverage();
        loadMax = Math.max(loadMax, load[0]);
        return new Result(busy, load[0], loadMax, appCpuSeconds, sippCpu.toMillis() / 1000.0, wallMillis / 1000.0,
                Runtime.getRuntime().availableProcessors());
    }

    /**
     * @param machineBusyPercent busy share of all cores over the round (every process, other users' too)
     * @param load1End           1-minute load average at the end of the round
     * @param load1Max           highest 1-minute load average sampled during the round
     * @param appCpuSeconds      CPU seconds the app used during the round (NaN when attached to a running one)
     * @param sippCpuSeconds     CPU seconds sipp used
     */
    record Result(double machineBusyPercent, double load1End, double load1Max, double appCpuSeconds,
                  double sippCpuSeconds, double wallSeconds, int cores) {

        /** The app's share of all cores over the round, in percent. */
        double appPercentOfMachine() {
            return 100.0 * appCpuSeconds / (wallSeconds * cores);
        }
    }

    /** {total jiffies, idle + iowait jiffies} of the "cpu" line. */
    private static long[] procStat() {
        try {
            List<String> lines = Files.readAllLines(Path.of("/proc/stat"));
            String[] f = lines.get(0).trim().split("\\s+");
            long total = 0;
            for (int i = 1; i < Math.min(f.length, 9); i++) { // user..steal; guest is already in user
                total += Long.parseLong(f[i]);
            }
            return new long[]{total, Long.parseLong(f[4]) + Long.parseLong(f[5])};
        } catch (IOException | RuntimeException e) {
            return new long[]{0, 0};
        }
    }

    static double[] loadAverage() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
            return new double[]{Double.parseDouble(f[0]), Double.parseDouble(f[1]), Double.parseDouble(f[2])};
        } catch (IOException | RuntimeException e) {
            return new double[]{Double.NaN, Double.NaN, Double.NaN};
        }
    }
}
