package dev.omnicall.app.roles;

import dev.omnicall.bridge.media.MediaStats;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;

import java.util.Collection;
import java.util.Map;
import java.util.function.Supplier;
import java.util.function.ToDoubleFunction;

/**
 * Gauges over the media of the calls this bridge holds now, read from the bridge's per-call
 * {@link MediaStats} when Prometheus scrapes:
 *
 * <ul>
 *   <li>{@code omnicall_rtp_jitter_seconds{stat="max"|"mean"}}: RFC 3550 §6.4.1 interarrival jitter of the
 *       callers' audio (0 with no live call)</li>
 *   <li>{@code omnicall_rtp_send_lateness_call_p99_seconds{stat="max"|"mean"}}: each live call's 99th
 *       percentile of reply packets sent late against their 20 ms schedule (the fleet-wide distribution is
 *       {@code omnicall_rtp_send_lateness_seconds})</li>
 * </ul>
 *
 * One snapshot of the live calls serves every gauge of a scrape (it is reused for 250 ms).
 */
final class LiveMediaGauges {

    private static final long REUSE_NANOS = 250_000_000L;

    private final Supplier<Map<String, MediaStats>> liveStats;
    private Collection<MediaStats> cached = java.util.List.of();
    private long cachedAt = Long.MIN_VALUE;

    LiveMediaGauges(Supplier<Map<String, MediaStats>> liveStats) {
        this.liveStats = liveStats;
    }

    void register(MeterRegistry registry) {
        gauge(registry, "omnicall.rtp.jitter", "max", s -> s.jitterMs() / 1000.0, true,
                "RFC 3550 interarrival jitter of caller audio, worst live call");
        gauge(registry, "omnicall.rtp.jitter", "mean", s -> s.jitterMs() / 1000.0, false,
                "RFC 3550 interarrival jitter of caller audio, mean over live calls");
        gauge(registry, "omnicall.rtp.send.lateness.call.p99", "max", s -> s.sendJitterP99Micros() / 1e6, true,
                "99th percentile of reply packet send lateness, worst live call");
        gauge(registry, "omnicall.rtp.send.lateness.call.p99", "mean", s -> s.sendJitterP99Micros() / 1e6, false,
                "99th percentile of reply packet send lateness, mean over live calls");
    }

    private void gauge(MeterRegistry registry, String name, String stat, ToDoubleFunction<MediaStats> value,
                       boolean max, String description) {
        // Strong reference: nothing else holds this object, and a weakly held gauge object reads NaN once collected.
        Gauge.builder(name, this, g -> g.aggregate(value, max)).tag("stat", stat).baseUnit("seconds")
                .description(description).strongReference(true).register(registry);
    }

    double aggregate(ToDoubleFunction<MediaStats> value, boolean max) {
        Collection<MediaStats> stats = snapshot();
        if (stats.isEmpty()) {
            return 0;
        }
        return max ? stats.stream().mapToDouble(value).max().orElse(0)
                : stats.stream().mapToDouble(value).average().orElse(0);
    }

    private synchronized Collection<MediaStats> snapshot() {
        long now = System.nanoTime();
        if (cachedAt == Long.MIN_VALUE || now - cachedAt > REUSE_NANOS) {
            cached = liveStats.get().values();
            cachedAt = now;
        }
        return cached;
    }
}
