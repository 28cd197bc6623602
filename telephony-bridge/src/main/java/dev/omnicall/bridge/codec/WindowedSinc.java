package dev.omnicall.bridge.codec;

/**
 * Designs linear-phase low-pass FIR filters: an ideal (sinc) low-pass truncated by a Kaiser window.
 * With 96 taps and beta 8 the stopband is about 80 dB down and the transition band about 0.05 of the
 * sample rate wide, enough to keep a 6 kHz tone out of 8 kHz telephone audio.
 */
public final class WindowedSinc {
    private WindowedSinc() {
    }

    /**
     * @param taps        filter length
     * @param cutoff      -6 dB point as a fraction of the sample rate (0 < cutoff < 0.5)
     * @param kaiserBeta  window shape: larger trades a wider transition for a deeper stopband
     * @param dcGain      sum of the coefficients (2 for a 2x interpolator, which inserts zeros)
     */
    public static float[] lowPass(int taps, double cutoff, double kaiserBeta, double dcGain) {
        if (taps < 2 || !(cutoff > 0 && cutoff < 0.5)) {
            throw new IllegalArgumentException("need taps >= 2 and 0 < cutoff < 0.5, got " + taps + ", " + cutoff);
        }
        double[] h = new double[taps];
        double centre = (taps - 1) / 2.0;
        double i0Beta = besselI0(kaiserBeta);
        double sum = 0;
        for (int n = 0; n < taps; n++) {
            double t = n - centre;
            double sinc = t == 0 ? 2 * cutoff : Math.sin(2 * Math.PI * cutoff * t) / (Math.PI * t);
            double r = 2.0 * n / (taps - 1) - 1.0;
            double window = besselI0(kaiserBeta * Math.sqrt(Math.max(0, 1 - r * r))) / i0Beta;
            h[n] = sinc * window;
            sum += h[n];
        }
        float[] out = new float[taps];
        for (int n = 0; n < taps; n++) {
            out[n] = (float) (h[n] * dcGain / sum);
        }
        return out;
    }

    /** Zeroth-order modified Bessel function of the first kind, by its power series. */
    static double besselI0(double x) {
        double sum = 1;
        double term = 1;
        double halfX = x / 2;
        for (int k = 1; k < 50; k++) {
            term *= (halfX / k) * (halfX / k);
            sum += term;
            if (term < 1e-12 * sum) {
                break;
            }
        }
        return sum;
    }

    static short clip(float v) {
        int r = Math.round(v);
        return (short) Math.max(Short.MIN_VALUE, Math.min(Short.MAX_VALUE, r));
    }
}
