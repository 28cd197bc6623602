package dev.omnicall.reliability.support;

import java.time.Duration;
import java.util.function.BooleanSupplier;

/** Polling waits that fail the test with what was awaited. */
public final class Waits {

    private Waits() {
    }

    /** Waits until {@code condition} holds; returns the milliseconds it took. */
    public static long until(String what, Duration timeout, BooleanSupplier condition) {
        long t0 = System.nanoTime();
        long deadline = t0 + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out after " + timeout.toMillis() + " ms waiting for " + what);
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
