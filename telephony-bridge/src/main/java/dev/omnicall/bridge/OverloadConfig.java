package dev.omnicall.bridge;

import java.time.Duration;

/**
 * When the bridge stops taking new calls because the calls it carries would degrade (see {@link OverloadGuard}).
 * It refuses once {@code refuseAfterSamples} samples in a row have their RTP send lateness p99 at
 * {@code refuseLatenessP99Ms} or more, or their process CPU at {@code refuseCpuPct} of the cores it may use or more;
 * or their receive lag at {@code refuseReceiveLagMs} or more; it takes calls again after {@code resumeAfterSamples}
 * samples in a row below every resume threshold.
 *
 * @param enabled             off: every call is taken (up to {@code maxCalls})
 * @param refuseLatenessP99Ms p99 of the pacer's wake-up lateness over one sample that starts refusing; below a
 *                            packet time (20 ms), so new calls stop before live calls' audio gets gaps
 * @param refuseCpuPct        process CPU over one sample, % of {@code availableProcessors}, that starts refusing; 0: CPU
 *                            is not judged (lateness only: where the bridge shares its process with other roles,
 *                            whose CPU says nothing about the calls)
 * @param resumeLatenessP99Ms lateness p99 under which a sample counts as calm
 * @param resumeCpuPct        CPU under which a sample counts as calm (0 when CPU is not judged)
 * @param sampleInterval      how often the guard measures
 * @param refuseAfterSamples  late (or hot) samples in a row that start refusing; 1 refuses on a single sample. A JIT
 *                            or GC pause shorter than {@code sampleInterval} can spoil two samples (one that straddles
 *                            the boundary), never three, so the default {@value #DEFAULT_REFUSE_AFTER_SAMPLES} does
 *                            not turn callers away for a pause, and sustained lateness still refuses within
 *                            {@code refuseAfterSamples × sampleInterval} (1.5 s)
 * @param resumeAfterSamples  calm samples in a row that end an overload
 * @param retryAfterSeconds   the Retry-After of the 503
 * @param refuseReceiveLagMs  the longest a receive thread was away from its sockets in one sample
 *                            ({@code RtpReceivers#takeMaxReceiveLagNanos}) that starts refusing; 0: not judged. Each
 *                            turn of a receive thread takes one packet time of audio from each call, so turns longer
 *                            than a packet time leave caller audio piling up in the socket buffers (Silero late, the
 *                            thread starved) while the pacer may still be on time. Default
 *                            {@value #DEFAULT_REFUSE_RECEIVE_LAG_MS} ms: three packet times
 * @param resumeReceiveLagMs  receive lag under which a sample counts as calm (default
 *                            {@value #DEFAULT_RESUME_RECEIVE_LAG_MS} ms, one packet time)
 */
public record OverloadConfig(boolean enabled, int refuseLatenessP99Ms, int refuseCpuPct, int resumeLatenessP99Ms,
                             int resumeCpuPct, Duration sampleInterval, int refuseAfterSamples, int resumeAfterSamples,
                             int retryAfterSeconds, int refuseReceiveLagMs, int resumeReceiveLagMs) {

    /**
     * Receive lag that starts refusing unless configured: three 20 ms packet times waiting in every caller's socket.
     * A starting point chosen from the turn structure, not measured on a quiet box yet (README).
     */
    public static final int DEFAULT_REFUSE_RECEIVE_LAG_MS = 60;
    /** Receive lag under which a sample is calm unless configured: one packet time. */
    public static final int DEFAULT_RESUME_RECEIVE_LAG_MS = 20;

    /**
     * Late samples in a row that start refusing, unless configured: one pause (JIT, GC, a descheduled pacer) spoils at
     * most two 0.5 s samples. Clean-clone CI once refused a test call on one sample at p99 21 ms over 25 ticks.
     */
    public static final int DEFAULT_REFUSE_AFTER_SAMPLES = 3;

    /** Off: what a bridge built before the guard did. */
    public static final OverloadConfig OFF = new OverloadConfig(false, 10, 85, 5, 70, Duration.ofMillis(500), 4, 5);

    public OverloadConfig {
        if (sampleInterval == null || sampleInterval.toMillis() < 50) {
            throw new IllegalArgumentException("overload sampleInterval must be at least 50 ms, got " + sampleInterval);
        }
        if (refuseLatenessP99Ms < 1 || resumeLatenessP99Ms < 0 || resumeLatenessP99Ms > refuseLatenessP99Ms) {
            throw new IllegalArgumentException("need 0 <= resumeLatenessP99Ms <= refuseLatenessP99Ms and refuse >= 1 ms,"
                    + " got resume " + resumeLatenessP99Ms + " and refuse " + refuseLatenessP99Ms);
        }
        if (refuseCpuPct < 0 || refuseCpuPct > 100 || resumeCpuPct < 0 || resumeCpuPct > refuseCpuPct) {
            throw new IllegalArgumentException("need 0 <= resumeCpuPct <= refuseCpuPct <= 100 (refuse 0: CPU not"
                    + " judged), got resume " + resumeCpuPct + " and refuse " + refuseCpuPct);
        }
        if (refuseReceiveLagMs < 0 || resumeReceiveLagMs < 0 || resumeReceiveLagMs > refuseReceiveLagMs) {
            throw new IllegalArgumentException("need 0 <= resumeReceiveLagMs <= refuseReceiveLagMs (refuse 0: receive lag"
                    + " not judged), got resume " + resumeReceiveLagMs + " and refuse " + refuseReceiveLagMs);
        }
        if (refuseAfterSamples < 1 || resumeAfterSamples < 1 || retryAfterSeconds < 1) {
            throw new IllegalArgumentException("refuseAfterSamples, resumeAfterSamples and retryAfterSeconds must be at"
                    + " least 1, got " + refuseAfterSamples + ", " + resumeAfterSamples + " and " + retryAfterSeconds);
        }
    }

    /** With the default receive-lag thresholds. */
    public OverloadConfig(boolean enabled, int refuseLatenessP99Ms, int refuseCpuPct, int resumeLatenessP99Ms,
                          int resumeCpuPct, Duration sampleInterval, int refuseAfterSamples, int resumeAfterSamples,
                          int retryAfterSeconds) {
        this(enabled, refuseLatenessP99Ms, refuseCpuPct, resumeLatenessP99Ms, resumeCpuPct, sampleInterval,
                refuseAfterSamples, resumeAfterSamples, retryAfterSeconds, DEFAULT_REFUSE_RECEIVE_LAG_MS,
                DEFAULT_RESUME_RECEIVE_LAG_MS);
    }

    /** With {@link #DEFAULT_REFUSE_AFTER_SAMPLES} late samples in a row to start refusing (what the app maps today). */
    public OverloadConfig(boolean enabled, int refuseLatenessP99Ms, int refuseCpuPct, int resumeLatenessP99Ms,
                          int resumeCpuPct, Duration sampleInterval, int resumeAfterSamples, int retryAfterSeconds) {
        this(enabled, refuseLatenessP99Ms, refuseCpuPct, resumeLatenessP99Ms, resumeCpuPct, sampleInterval,
                DEFAULT_REFUSE_AFTER_SAMPLES, resumeAfterSamples, retryAfterSeconds);
    }

    /** The same thresholds, refusing after {@code samples} late samples in a row (1: on the first). */
    public OverloadConfig withRefuseAfterSamples(int samples) {
        return new OverloadConfig(enabled, refuseLatenessP99Ms, refuseCpuPct, resumeLatenessP99Ms, resumeCpuPct,
                sampleInterval, samples, resumeAfterSamples, retryAfterSeconds, refuseReceiveLagMs, resumeReceiveLagMs);
    }

    /** The same, refusing at receive lag {@code refuseMs} and calm under {@code resumeMs} (refuse 0: not judged). */
    public OverloadConfig withReceiveLag(int refuseMs, int resumeMs) {
        return new OverloadConfig(enabled, refuseLatenessP99Ms, refuseCpuPct, resumeLatenessP99Ms, resumeCpuPct,
                sampleInterval, refuseAfterSamples, resumeAfterSamples, retryAfterSeconds, refuseMs, resumeMs);
    }

    /** Whether the receive threads' lag counts (refuseReceiveLagMs above 0). */
    public boolean judgesReceiveLag() {
        return refuseReceiveLagMs > 0;
    }

    /**
     * On, refusing after 1.5 s (3 samples) at p99 10 ms or 85 % CPU, resuming after 2 s under 5 ms and 70 %, Retry-After
     * 5 s.
     */
    public static OverloadConfig defaults() {
        return new OverloadConfig(true, 10, 85, 5, 70, Duration.ofMillis(500), 4, 5);
    }

    /**
     * On, judged on the pacer's lateness alone: refuse after 1.5 s (3 samples) at p99 {@code refuseMs}, resume after 2 s
     * under {@code resumeMs}, Retry-After 5 s.
     */
    public static OverloadConfig latenessOnly(int refuseMs, int resumeMs) {
        return new OverloadConfig(true, refuseMs, 0, resumeMs, 0, Duration.ofMillis(500), 4, 5);
    }

    /** Whether process CPU counts (refuseCpuPct above 0). */
    public boolean judgesCpu() {
        return refuseCpuPct > 0;
    }
}
