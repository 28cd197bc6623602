package dev.omnicall.model.omni2;

import java.util.SplittableRandom;

/**
 * What the NSF sine source draws at random in the reference (a start phase per overtone, uniform in
 * (−π, π), and Gaussian noise per overtone and sample, both redrawn on every call), pinned so that the
 * output is reproducible: zero, or drawn from a seed.
 *
 * <p>Seeded noise is a pure function of (seed, overtone, absolute sample index), not a stream, so a
 * piece of audio synthesised on its own gets the same noise as the same samples inside a longer call.
 *
 * @param randomPhases false: every start phase is 0; true: φ_0 = 0 and φ_h ~ U(−π, π) from the seed
 * @param noise false: no noise is added (an unvoiced sample's source is then tanh(bias)); true: seeded
 *     standard normal noise, scaled by the reference's σ (voiced 0.003, unvoiced sineAmp/3)
 * @param seed the seed of both draws
 */
public record SourcePins(boolean randomPhases, boolean noise, long seed) {

    /** The default: seeded phases and noise (the reference's distribution, reproducible). */
    public static final long DEFAULT_SEED = 1986L;

    /** No randomness at all: zero phases, no noise. */
    public static SourcePins zero() {
        return new SourcePins(false, false, 0L);
    }

    public static SourcePins seeded(long seed) {
        return new SourcePins(true, true, seed);
    }

    public static SourcePins defaults() {
        return seeded(DEFAULT_SEED);
    }

    /** Start phases of the fundamental and each overtone: [harmonics + 1], the first always 0. */
    public float[] phases(int sines) {
        float[] phi = new float[sines];
        if (randomPhases) {
            SplittableRandom r = new SplittableRandom(seed);
            for (int h = 1; h < sines; h++) {
                phi[h] = (float) (r.nextDouble() * 2 * Math.PI - Math.PI);
            }
        }
        return phi;
    }

    /**
     * Standard normal noise for samples [firstSample, firstSample + n) of each of the {@code sines} rows:
     * row-major [sines, n]; all zeros when noise is off.
     */
    public float[] noise(int sines, long firstSample, int n) {
        float[] out = new float[sines * n];
        if (!noise) {
            return out;
        }
        for (int h = 0; h < sines; h++) {
            for (int i = 0; i < n; i++) {
                out[h * n + i] = (float) gaussian(seed, h, firstSample + i);
            }
        }
        return out;
    }

    /** Box-Muller on two uniforms hashed from (seed, row, index) with SplitMix64's finaliser. */
    static double gaussian(long seed, int row, long index) {
        long key = mix(seed ^ mix(((long) row << 40) ^ index));
        double u1 = ((mix(key) >>> 11) + 1) * 0x1.0p-53; // (0, 1]: log is finite
        double u2 = (mix(key + 0x9E3779B97F4A7C15L) >>> 11) * 0x1.0p-53;
        return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    }

    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
