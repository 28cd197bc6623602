package dev.omnicall.bridge;

import dev.omnicall.bridge.media.LatencyHistogram;
import dev.omnicall.bridge.media.RtpPacer;
import dev.omnicall.bridge.media.RtpReceivers;
import java.util.ArrayList;
import java.util.List;
import dev.omnicall.bridge.sip.OverloadGate;
import java.lang.management.ManagementFactory;
import java.util.Locale;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Refuses new calls (SIP 503 + Retry-After, through {@link OverloadGate}) while the bridge cannot carry more
 * without its live calls degrading. Every {@code sampleInterval} it reads what the bridge itself measures: the
 * lateness of every RTP pacer tick in the interval (the first thing to suffer when the receive threads and the
 * VAD take the cores; a tick later than a packet time leaves a gap in the caller's audio), the process's CPU, and the
 * receive threads' lag (the longest a receive thread was away from its sockets: caller audio waiting in the socket
 * buffers, which the pacer does not see when Silero or a starved receive thread falls behind).
 * It enters overload after {@code refuseAfterSamples} samples in a row over a refuse threshold (a JIT or GC pause
 * spoils one or two samples, lateness that lasts spoils them all) and leaves it after {@code resumeAfterSamples}
 * calm samples in a row (hysteresis, so it does not flap at the edge). Live calls are never touched.
 *
 * <p>Metrics: {@code omnicall_bridge_overloaded} (gauge, 1 while refusing), {@code omnicall_bridge_receive_lag_seconds}
 * (gauge, the last sample's receive lag), refusals in {@code omnicall_bridge_sip_rejected_total{reason=overload}}; one
 * WARN line when it starts refusing, naming the signals over their thresholds, and one INFO line when it stops.
 */
public final class OverloadGuard implements OverloadGate, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(OverloadGuard.class);
    /**
     * Fewer pacer ticks than this in a sample (a bridge with a call or two) say nothing about its lateness: one
     * slow wake-up would be the p99. Such a bridge is judged on CPU alone.
     */
    static final long MIN_TICKS = 20;

    /**
     * One interval's reading.
     *
     * @param receiveLagMicros the longest a receive thread was away from its sockets in the interval, a turn still in
     *                         progress included ({@link RtpReceivers#takeMaxReceiveLagNanos()}); 0 when not measured
     */
    public record LoadSample(long latenessP99Micros, long ticks, double cpuPct, long receiveLagMicros) {
        /** Without a receive-lag reading (pacer and CPU only). */
        public LoadSample(long latenessP99Micros, long ticks, double cpuPct) {
            this(latenessP99Micros, ticks, cpuPct, 0);
        }
    }

    /** Reads the load since its previous call. */
    @FunctionalInterface
    public interface LoadSampler {
        LoadSample sample();
    }

    private final OverloadConfig config;
    private final LoadSampler sampler;
    private final BridgeMetrics metrics;
    private final java.util.concurrent.atomic.AtomicInteger gauge;
    private final java.util.concurrent.atomic.AtomicLong receiveLagGauge;
    private volatile boolean overloaded;
    private int calmSamples;
    private int hotSamples;
    private volatile LoadSample last = new LoadSample(0, 0, 0);
    private ScheduledExecutorService timer;

    public OverloadGuard(OverloadConfig config, LoadSampler sampler, BridgeMetrics metrics) {
        this.config = config;
        this.sampler = sampler;
        this.metrics = metrics;
        this.gauge = metrics.overloadedGauge();
        this.receiveLagGauge = metrics.receiveLagGauge();
    }

    /**
     * The bridge's own measurements: pacer tick lateness (p99 over the ticks since the last sample) and the
     * process CPU time over the wall time, as % of the processors the JVM may use (container-aware).
     */
    public static LoadSampler measuring(RtpPacer pacer) {
        return measuring(pacer, null);
    }

    /**
     * As {@link #measuring(RtpPacer)}, and the receive threads' lag ({@link RtpReceivers#takeMaxReceiveLagNanos()})
     * when {@code receivers} is not null.
     */
    public static LoadSampler measuring(RtpPacer pacer, RtpReceivers receivers) {
        com.sun.management.OperatingSystemMXBean os =
                (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        int cores = Runtime.getRuntime().availableProcessors();
        pacer.takeRecentLateness();
        if (receivers != null) {
            receivers.takeMaxReceiveLagNanos();
        }
        long[] previous = {System.nanoTime(), os.getProcessCpuTime()};
        return () -> {
            LatencyHistogram h = pacer.takeRecentLateness();
            long wall = System.nanoTime();
            long cpu = os.getProcessCpuTime();
            double pct = 100.0 * (cpu - previous[1]) / Math.max(1, wall - previous[0]) / cores;
            previous[0] = wall;
            previous[1] = cpu;
            long lagMicros = receivers == null ? 0 : receivers.takeMaxReceiveLagNanos() / 1_000;
            return new LoadSample(h.percentileMicros(0.99), h.count(), pct, lagMicros);
        };
    }

    /** Samples every {@code sampleInterval} on a daemon thread until {@link #close()}. */
    public synchronized void start() {
        if (timer != null) {
            return;
        }
        timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "bridge-overload-guard");
            t.setDaemon(true);
            return t;
        });
        long ms = config.sampleInterval().toMillis();
        timer.scheduleAtFixedRate(() -> {
            try {
                onSample(sampler.sample());
            } catch (RuntimeException e) {
                LOG.warn("overload sample failed; the guard keeps its state", e);
            }
        }, ms, ms, TimeUnit.MILLISECONDS);
    }

    /** Takes one reading (called by the timer; tests call it directly). */
    public synchronized void onSample(LoadSample s) {
        last = s;
        receiveLagGauge.set(s.receiveLagMicros());
        long lateness = s.ticks() >= MIN_TICKS ? s.latenessP99Micros() : 0;
        boolean cpu = config.judgesCpu();
        boolean lag = config.judgesReceiveLag();
        boolean hot = lateness >= config.refuseLatenessP99Ms() * 1000L || cpu && s.cpuPct() >= config.refuseCpuPct()
                || lag && s.receiveLagMicros() >= config.refuseReceiveLagMs() * 1000L;
        boolean calm = lateness < config.resumeLatenessP99Ms() * 1000L && (!cpu || s.cpuPct() < config.resumeCpuPct())
                && (!lag || s.receiveLagMicros() < config.resumeReceiveLagMs() * 1000L);
        if (!overloaded) {
            hotSamples = hot ? hotSamples + 1 : 0;
            if (hot && hotSamples < config.refuseAfterSamples()) {
                LOG.debug("late sample {} of {} before refusing (over: {}; send lateness p99 {} us over {} ticks, cpu {}%,"
                        + " receive lag {} us)", hotSamples, config.refuseAfterSamples(), tripped(s), s.latenessP99Micros(),
                        s.ticks(), String.format(Locale.ROOT, "%.0f", s.cpuPct()), s.receiveLagMicros());
            }
            if (hotSamples >= config.refuseAfterSamples()) {
                overloaded = true;
                calmSamples = 0;
                hotSamples = 0;
                gauge.set(1);
                LOG.warn("bridge overloaded: refusing new calls with 503 ({} samples in a row over a threshold, the last"
                        + " over: {}; send lateness p99 {} us over {} ticks, cpu {}%, receive lag {} us; thresholds {} ms,"
                        + " {}%, {} ms)", config.refuseAfterSamples(), tripped(s), s.latenessP99Micros(), s.ticks(),
                        String.format(Locale.ROOT, "%.0f", s.cpuPct()), s.receiveLagMicros(),
                        config.refuseLatenessP99Ms(), config.refuseCpuPct(), config.refuseReceiveLagMs());
            }
            return;
        }
        calmSamples = calm ? calmSamples + 1 : 0;
        if (calmSamples >= config.resumeAfterSamples()) {
            overloaded = false;
            gauge.set(0);
            LOG.info("bridge recovered: taking new calls again (send lateness p99 {} us, cpu {}%, receive lag {} us)",
                    s.latenessP99Micros(), String.format(Locale.ROOT, "%.0f", s.cpuPct()), s.receiveLagMicros());
        }
    }

    /**
     * The signals of {@code s} at or over their refuse thresholds, for the log: {@code send_lateness}, {@code cpu},
     * {@code receive_lag}, comma-separated; {@code none} when under all of them.
     */
    public String tripped(LoadSample s) {
        List<String> over = new ArrayList<>(3);
        if (s.ticks() >= MIN_TICKS && s.latenessP99Micros() >= config.refuseLatenessP99Ms() * 1000L) {
            over.add("send_lateness");
        }
        if (config.judgesCpu() && s.cpuPct() >= config.refuseCpuPct()) {
            over.add("cpu");
        }
        if (config.judgesReceiveLag() && s.receiveLagMicros() >= config.refuseReceiveLagMs() * 1000L) {
            over.add("receive_lag");
        }
        return over.isEmpty() ? "none" : String.join(",", over);
    }

    public boolean overloaded() {
        return overloaded;
    }

    /** The last reading, for logs and the benchmark. */
    public LoadSample lastSample() {
        return last;
    }

    @Override
    public int refuseForSeconds() {
        return overloaded ? config.retryAfterSeconds() : 0;
    }

    @Override
    public synchronized void close() {
        if (timer != null) {
            timer.shutdownNow();
            timer = null;
        }
    }
}
