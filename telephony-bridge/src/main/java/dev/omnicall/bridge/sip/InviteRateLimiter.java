package dev.omnicall.bridge.sip;

import java.net.InetAddress;
import java.util.Iterator;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;

/**
 * A token bucket per source address for new INVITEs: {@code ratePerSecond} tokens refill per second up
 * to {@code burst}; an INVITE that finds the bucket empty is refused. Buckets of quiet sources are
 * dropped so a spoofed-source flood cannot grow the map without bound.
 */
public final class InviteRateLimiter {

    private static final int MAX_SOURCES = 100_000;

    private static final class Bucket {
        double tokens;
        long lastNanos;

        Bucket(double tokens, long lastNanos) {
            this.tokens = tokens;
            this.lastNanos = lastNanos;
        }
    }

    private final double ratePerSecond;
    private final double burst;
    private final LongSupplier nanoClock;
    private final Map<InetAddress, Bucket> buckets = new ConcurrentHashMap<>();

    public InviteRateLimiter(double ratePerSecond, int burst, LongSupplier nanoClock) {
        if (ratePerSecond <= 0 || burst < 1) {
            throw new IllegalArgumentException("rate must be > 0 and burst >= 1, got " + ratePerSecond + ", " + burst);
        }
        this.ratePerSecond = ratePerSecond;
        this.burst = burst;
        this.nanoClock = nanoClock;
    }

    public InviteRateLimiter(double ratePerSecond, int burst) {
        this(ratePerSecond, burst, System::nanoTime);
    }

    /** Takes one token from the source's bucket; false when the source is over its rate. */
    public boolean tryAcquire(InetAddress source) {
        long now = nanoClock.getAsLong();
        if (buckets.size() > MAX_SOURCES) {
            evictFull(now);
        }
        Bucket b = buckets.computeIfAbsent(source, s -> new Bucket(burst, now));
        synchronized (b) {
            double elapsedS = (now - b.lastNanos) / 1e9;
            b.tokens = Math.min(burst, b.tokens + elapsedS * ratePerSecond);
            b.lastNanos = now;
            if (b.tokens >= 1) {
                b.tokens -= 1;
                return true;
            }
            return false;
        }
    }

    /** Drops the buckets that have refilled completely: they hold no information. */
    private void evictFull(long now) {
        double refillNanos = burst / ratePerSecond * 1e9;
        for (Iterator<Bucket> it = buckets.values().iterator(); it.hasNext(); ) {
            Bucket b = it.next();
            if (now - b.lastNanos > refillNanos) {
                it.remove();
            }
        }
    }

    int trackedSources() {
        return buckets.size();
    }
}
