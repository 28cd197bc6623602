package dev.omnicall.model.tools;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collection;
import java.util.Locale;
import java.util.Map;

/**
 * What every benchmark program in gpu-workers does to print its figures: the load average beside them, medians and
 * quantiles of repeated timings, fixed-point numbers and the closing key=value line. Three ranks are kept apart on
 * purpose, because figures already published in the READMEs were made with each: {@link #median} (the mean of the two
 * middle values of an even count), {@link #quantile} (the value at floor(q n) of the sorted values, so its q = 0.5 is
 * the higher middle value, one that was measured) and {@link #nearestRank} (at ceil(q n) - 1).
 */
public final class BenchmarkFigures {
    private BenchmarkFigures() {
    }

    /** The 1-minute load average from /proc/loadavg ("unknown" where there is none): a shared box skews every figure. */
    public static String loadAverage() {
        try {
            return Files.readString(Path.of("/proc/loadavg")).split(" ")[0];
        } catch (IOException | RuntimeException e) {
            return "unknown";
        }
    }

    /** The median; for an even count the mean of the two middle values; NaN for none. */
    public static double median(double[] values) {
        if (values.length == 0) {
            return Double.NaN;
        }
        double[] s = values.clone();
        Arrays.sort(s);
        int mid = s.length / 2;
        return s.length % 2 == 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
    }

    public static double median(long[] values) {
        return median(Arrays.stream(values).asDoubleStream().toArray());
    }

    public static double median(Collection<? extends Number> values) {
        return median(doubles(values));
    }

    /** The value at rank floor(q n) of the sorted values (q from 0 to 1; 1 gives the largest); NaN for none. */
    public static double quantile(double[] values, double q) {
        if (values.length == 0) {
            return Double.NaN;
        }
        double[] s = values.clone();
        Arrays.sort(s);
        return s[(int) Math.min(s.length - 1, Math.floor(q * s.length))];
    }

    public static double quantile(Collection<? extends Number> values, double q) {
        return quantile(doubles(values), q);
    }

    /** The higher of the two middle values for an even count ({@link #quantile} at 0.5). */
    public static double upperMedian(double[] values) {
        return quantile(values, 0.5);
    }

    public static double upperMedian(long[] values) {
        return quantile(Arrays.stream(values).asDoubleStream().toArray(), 0.5);
    }

    public static double upperMedian(Collection<? extends Number> values) {
        return quantile(doubles(values), 0.5);
    }

    /** The nearest-rank q-percentile (q from 0 to 1): the value at ceil(q n) - 1 of the sorted values; NaN for none. */
    public static double nearestRank(double[] values, double q) {
        if (values.length == 0) {
            return Double.NaN;
        }
        double[] s = values.clone();
        Arrays.sort(s);
        int rank = (int) Math.ceil(q * s.length);
        return s[Math.max(0, Math.min(s.length - 1, rank - 1))];
    }

    public static double nearestRank(Collection<? extends Number> values, double q) {
        return nearestRank(doubles(values), q);
    }

    /** v with the given number of decimals, a point whatever the locale. */
    public static String fixed(double v, int decimals) {
        return String.format(Locale.ROOT, "%." + decimals + "f", v);
    }

    /** The benchmark's closing line: key=value pairs in the map's order, one space apart. */
    public static String keyValueLine(Map<String, String> results) {
        StringBuilder line = new StringBuilder();
        results.forEach((k, v) -> line.append(line.length() == 0 ? "" : " ").append(k).append('=').append(v));
        return line.toString();
    }

    private static double[] doubles(Collection<? extends Number> values) {
        return values.stream().mapToDouble(Number::doubleValue).toArray();
    }
}
