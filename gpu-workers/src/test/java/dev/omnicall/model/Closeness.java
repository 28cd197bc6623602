package dev.omnicall.model;

import static org.assertj.core.api.Assertions.assertThat;

/** Float arrays compared by their largest difference, relative to the largest magnitude of the expected values. */
public final class Closeness {

    private Closeness() {
    }

    /** Fails unless the lengths agree and max |actual - expected| is at most {@code relative} x max |expected|. */
    public static void assertWithinScale(float[] actual, float[] expected, double relative, String what) {
        assertThat(actual).as(what).hasSameSizeAs(expected);
        double scale = 0;
        double diff = 0;
        for (int i = 0; i < expected.length; i++) {
            scale = Math.max(scale, Math.abs(expected[i]));
            diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
        }
        assertThat(diff).as("max |difference| of %s (scale %s)", what, scale).isLessThanOrEqualTo(relative * scale);
    }
}
