package dev.omnicall.bridge.media;

import java.util.concurrent.atomic.AtomicLongArray;

/**
 * Counts durations in 10 µs buckets up to 50 ms (one overflow bucket above), cheap enough to record every
 * packet. Percentiles are read as the upper edge of the bucket, so they err on the high side by < 10 µs.
 * Thread-safe: one writer, any readers; histograms can be merged for a fleet-wide figure.
 */
public final class LatencyHistogram {
    static final int BUCKET_MICROS = 10;
    static final int BUCKETS = 5000;
    private final AtomicLongArray counts = new AtomicLongArray(BUCKETS + 1);
    private volatile long maxMicros;

    public void record(long micros) {
        long m = Math.max(0, micros);
        int bucket = (int) Math.min(BUCKETS, m / BUCKET_MICROS);
        counts.incrementAndGet(bucket);
        if (m > maxMicros) {
            maxMicros = m;
        }
    }

    public long count() {
        long n = 0;
        for (int i = 0; i <= BUCKETS; i++) {
            n += counts.get(i);
        }
        return n;
    }

    /** The q-quantile (0..1) in microseconds; 0 when empty. */
    public long percentileMicros(double q) {
        long total = count();
        if (total == 0) {
            return 0;
        }
        long rank = (long) Math.ceil(q * total);
        long seen = 0;
        for (int i = 0; i <= BUCKETS; i++) {
            seen += counts.get(i);
            if (seen >= rank && seen > 0) {
                return i == BUCKETS ? maxMicros : (long) (i + 1) * BUCKET_MICROS;
            }
        }
        return maxMicros;
    }

    public long maxMicros() {
        return maxMicros;
    }

    public void addTo(LatencyHistogram total) {
        for (int i = 0; i <= BUCKETS; i++) {
            long c = counts.get(i);
            if (c != 0) {
                total.counts.addAndGet(i, c);
            }
        }
        if (maxMicros > total.maxMicros) {
            total.maxMicros = maxMicros;
        }
    }

    public void clear() {
        for (int i = 0; i <= BUCKETS; i++) {
            counts.set(i, 0);
        }
        maxMicros = 0;
    }
}
