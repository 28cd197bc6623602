package dev.omnicall.model.omni2;

/**
 * Down-sampling of a speaker prompt to 16 kHz the way CosyVoice's {@code load_wav} does it
 * ({@code torchaudio.transforms.Resample(orig, 16000)} with its defaults: windowed-sinc interpolation, Hann window,
 * {@code lowpass_filter_width} 6 zero crossings, roll-off 0.99), so that a prompt such as LLaMA-Omni2's
 * {@code prompt_en.wav} (22.05 kHz) gives the reference's fbank. Once per voice: plain arrays.
 *
 * <p>With g = gcd(from, to), every {@code from/g} input samples give {@code to/g} outputs; output phase j of block
 * i is the dot product of one kernel row (2·width + from/g taps, rounded to float32 as torch stores it) with the
 * input from i·from/g − width, zeros outside; the result is cut to ceil(to/g · n / (from/g)) samples.
 */
public final class SincResampler {
    static final int ZERO_CROSSINGS = 6;
    static final double ROLLOFF = 0.99;

    private final int from; // input samples per block (rate / gcd)
    private final int to; // output samples per block
    private final int width; // taps either side of a block
    private final float[][] kernel; // [to][2 * width + from]

    public SincResampler(int fromRate, int toRate) {
        if (fromRate <= 0 || toRate <= 0) {
            throw new IllegalArgumentException("sample rates must be positive, got " + fromRate + " -> " + toRate);
        }
        int g = gcd(fromRate, toRate);
        from = fromRate / g;
        to = toRate / g;
        double base = Math.min(from, to) * ROLLOFF; // the low-pass cut-off, in block units
        width = (int) Math.ceil(ZERO_CROSSINGS * from / base);
        kernel = new float[to][2 * width + from];
        for (int j = 0; j < to; j++) {
            float phase = (float) -j / to; // torch divides an integer tensor: float32
            for (int k = 0; k < kernel[j].length; k++) {
                double t = (phase + (double) (k - width) / from) * base;
                t = Math.max(-ZERO_CROSSINGS, Math.min(ZERO_CROSSINGS, t));
                double window = Math.pow(Math.cos(t * Math.PI / ZERO_CROSSINGS / 2), 2);
                double x = t * Math.PI;
                double sinc = x == 0 ? 1.0 : Math.sin(x) / x;
                kernel[j][k] = (float) (sinc * window * base / from);
            }
        }
    }

    static int gcd(int a, int b) {
        return b == 0 ? a : gcd(b, a % b);
    }

    /** The resampled signal, ceil(n · toRate / fromRate) samples. */
    public float[] apply(float[] in) {
        if (from == to) {
            return in.clone();
        }
        int n = in.length;
        int outLength = (int) Math.ceil((double) to * n / from);
        float[] out = new float[outLength];
        for (int o = 0; o < outLength; o++) {
            int block = o / to;
            float[] row = kernel[o % to];
            int start = block * from - width; // first input sample under the kernel
            double sum = 0;
            for (int k = Math.max(0, -start); k < row.length && start + k < n; k++) {
                sum += row[k] * in[start + k];
            }
            out[o] = (float) sum;
        }
        return out;
    }
}
