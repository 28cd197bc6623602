package dev.omnicall.model.tools;

import ai.djl.pytorch.jni.JniUtils;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * Native tensor operations of a piece of code, counted with libtorch's own profiler: DJL's
 * {@code JniUtils.startProfile}/{@code stopProfile} write a chrome trace of every ATen call, and
 * {@link DecodeBenchmark#countOps} keeps the top-level ones (a call made inside another, as aten::matmul's mm, is
 * not counted again). What it misses: work that is not an ATen call (Java loops, host copies DJL makes without a
 * tensor op). The one place the tests and the benchmarks take their counts from.
 */
public final class NativeOps {
    private NativeOps() {
    }

    /** Top-level ATen calls of one run of body. */
    public static long count(Runnable body) {
        return DecodeBenchmark.countOps(trace(body))[0];
    }

    /** Top-level ATen calls of one run of body by name: name → {calls, milliseconds}. */
    public static Map<String, double[]> byName(Runnable body) {
        return DecodeBenchmark.opTimes(trace(body));
    }

    /** libtorch's chrome trace of one run of body. */
    public static String trace(Runnable body) {
        try {
            Path file = Files.createTempFile("native-ops", ".json");
            try {
                JniUtils.startProfile(false, false, false);
                body.run();
                JniUtils.stopProfile(file.toString());
                return Files.readString(file);
            } finally {
                Files.deleteIfExists(file);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("the profiler's trace could not be written or read", e);
        }
    }

    /** How a count grows with the batch: the shared path and the one-by-one path at a small and a large B. */
    public record Growth(int small, int large, long sharedSmall, long sharedLarge, long aloneSmall, long aloneLarge) {
        /** Counts the four: {@code ops.count(b, shared)}. */
        public static Growth of(int small, int large, Counter ops) {
            return new Growth(small, large, ops.count(small, true), ops.count(large, true), ops.count(small, false),
                    ops.count(large, false));
        }

        @Override
        public String toString() {
            return String.format("shared %d / %d ops (B %d / %d), one by one %d / %d", sharedSmall, sharedLarge, small,
                    large, aloneSmall, aloneLarge);
        }
    }

    /** The ops of some step for b rows, shared (batched, pooled) or one by one. */
    @FunctionalInterface
    public interface Counter {
        long count(int b, boolean shared);
    }
}
