package dev.omnicall.bridge;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;

import java.util.Objects;

/**
 * The counters of the SIP, call and Kafka side of the bridge. Every rejected or malformed input is
 * counted with a reason tag, so bad traffic shows on a dashboard while the bridge keeps running.
 *
 * <ul>
 *   <li>{@code omnicall_bridge_sip_rejected_total{reason}}: INVITEs and other requests answered with an
 *       error (forbidden_source, rate_limited, max_calls, auth_challenge, auth_failed, bad_sdp,
 *       no_common_codec, method_not_allowed, no_such_call, media_unavailable, overload)</li>
 *   <li>{@code omnicall_bridge_overloaded}: 1 while {@code OverloadGuard} refuses new calls (503 + Retry-After)</li>
 *   <li>{@code omnicall_bridge_receive_lag_seconds}: the overload guard's last reading of the receive threads' lag
 *       (the longest a receive thread was away from its sockets in one sample)</li>
 *   <li>{@code omnicall_bridge_sip_malformed_total{kind}}: messages the SIP parser refused or repaired
 *       (parse_error, bad_header, missing_header, hostile_header)</li>
 *   <li>{@code omnicall_bridge_calls_started_total}, {@code omnicall_bridge_calls_ended_total{reason}}</li>
 *   <li>{@code omnicall_bridge_kafka_errors_total{stage}}: produce failures and unreadable response
 *       records (the latter also go to the dead-letter topic); {@code orphan_sweep} when the start-up sweep
 *       failed or did not finish, {@code orphan_sweep_unreadable} per call-events record it had to skip</li>
 *   <li>{@code omnicall_bridge_orphan_calls_ended_total}: calls a previous run of this bridge left live
 *       (it crashed) that the start-up sweep ended with CallEnded(BRIDGE_LOST)</li>
 * </ul>
 */
public final class BridgeMetrics {

    private final MeterRegistry registry;

    public BridgeMetrics(MeterRegistry registry) {
        this.registry = Objects.requireNonNull(registry, "registry");
    }

    /** Counters kept in memory only; for tests and for running without a metrics backend. */
    public static BridgeMetrics inMemory() {
        return new BridgeMetrics(new SimpleMeterRegistry());
    }

    public MeterRegistry registry() {
        return registry;
    }

    /** {@code omnicall_bridge_overloaded}: 1 while the overload guard refuses new calls. */
    public java.util.concurrent.atomic.AtomicInteger overloadedGauge() {
        java.util.concurrent.atomic.AtomicInteger value = new java.util.concurrent.atomic.AtomicInteger();
        io.micrometer.core.instrument.Gauge.builder("omnicall_bridge_overloaded", value, java.util.concurrent.atomic.AtomicInteger::get)
                .description("1 while the bridge refuses new calls because it is overloaded").register(registry);
        return value;
    }

    /**
     * {@code omnicall_bridge_receive_lag_seconds}: the guard's last receive-lag reading; set the returned value in
     * microseconds.
     */
    public java.util.concurrent.atomic.AtomicLong receiveLagGauge() {
        java.util.concurrent.atomic.AtomicLong micros = new java.util.concurrent.atomic.AtomicLong();
        io.micrometer.core.instrument.Gauge.builder("omnicall_bridge_receive_lag_seconds", micros, m -> m.get() / 1e6)
                .description("the longest an RTP receive thread was away from its sockets in the overload guard's last"
                        + " sample").register(registry);
        return micros;
    }

    public void sipRejected(String reason) {
        counter("omnicall_bridge_sip_rejected_total", "reason", reason).increment();
    }

    public void sipMalformed(String kind) {
        counter("omnicall_bridge_sip_malformed_total", "kind", kind).increment();
    }

    public void callStarted() {
        registry.counter("omnicall_bridge_calls_started_total").increment();
    }

    public void callEnded(String reason) {
        counter("omnicall_bridge_calls_ended_total", "reason", reason).increment();
    }

    public void orphanCallsEnded(int n) {
        registry.counter("omnicall_bridge_orphan_calls_ended_total").increment(n);
    }

    /** Current value of a counter without tags, 0 when it was never incremented. */
    public double count(String name) {
        Counter c = registry.find(name).counter();
        return c == null ? 0 : c.count();
    }

    public void kafkaError(String stage) {
        counter("omnicall_bridge_kafka_errors_total", "stage", stage).increment();
    }

    /** Current value of a counter, 0 when it was never incremented. */
    public double count(String name, String tagKey, String tagValue) {
        Counter c = registry.find(name).tag(tagKey, tagValue).counter();
        return c == null ? 0 : c.count();
    }

    private Counter counter(String name, String tagKey, String tagValue) {
        return Counter.builder(name).tag(tagKey, tagValue).register(registry);
    }
}
