package dev.omnicall.reliability.support;

import java.time.Duration;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/** Polling waits that fail the test with what was awaited. */
public final class Waits {

    private Waits() {
    }

    /** Waits until {@code condition} holds; returns the milliseconds it took. */
    public static long until(String what, Duration timeout, BooleanSupplier condition) {
        return until(what, timeout, condition, () -> "");
    }

    /**
     * Waits until {@code condition} holds; on a time-out the failure also carries {@code state}, what was seen
     * instead (so a rare failure in CI says which call or turn it was).
     */
    public static long until(String what, Duration timeout, BooleanSupplier condition, Supplier<String> state) {
        long t0 = System.nanoTime();
        long deadline = t0 + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                String seen = state.get();
                throw new AssertionError("timed out after " + timeout.toMillis() + " ms waiting for " + what
                        + (seen.isEmpty() ? "" : "; seen: " + seen));
            }
            sleep(20);
        }
        return (System.nanoTime() - t0) / 1_000_000;
    }

    public static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted", e);
        }
    }

    public static long msSince(long nanos) {
        return (System.nanoTime() - nanos) / 1_000_000;
    }
}
