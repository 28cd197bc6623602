package dev.omnicall.model.omni2;

import java.util.Arrays;

/**
 * Kaldi's log mel filter bank as CosyVoice's CAM++ front end computes it: {@code
 * torchaudio.compliance.kaldi.fbank(wave, num_mel_bins=80, dither=0, sample_frequency=16000)} with every other option
 * at its default, then {@link #subtractMean} over time (CosyVoice's {@code _extract_spk_embedding}). Plain Java arrays:
 * a prompt of a few seconds is a few hundred frames, computed once per voice.
 *
 * <p>Per frame (Kaldi's defaults): 25 ms window (400 samples) every 10 ms (160), only whole windows ({@code
 * snip_edges}); the frame's mean removed; pre-emphasis 0.97 (the first sample against itself); Povey window (a
 * symmetric Hann to the power 0.85); zero-padded to 512; power spectrum; 80 triangular filters equally spaced on
 * the mel scale {@code 1127 ln(1 + f/700)} from 20 Hz to Nyquist (their weights in float32, as Kaldi and torchaudio
 * compute them); {@code ln(max(energy, FLT_EPSILON))}. The signal path is computed in double (torch's float32 FFT
 * moves the log of a weak bin by up to ~5e-4: the golden test states both differences).
 */
public final class KaldiFbank {
    public static final int SAMPLE_RATE = 16000;
    public static final int WINDOW = 400; // 25 ms
    public static final int SHIFT = 160; // 10 ms
    public static final int FFT = 512; // WINDOW rounded up to a power of two
    public static final double PREEMPHASIS = 0.97;
    public static final double LOW_HZ = 20;
    /** torch.finfo(torch.float).eps, the floor before the log. */
    public static final double FLOOR = 1.1920928955078125e-07;

    private final int bins;
    private final double[] window; // [WINDOW]
    private final double[][] filters; // [bins][FFT / 2], the Nyquist bin has weight 0 in every filter
    private final int[] first; // per filter: first FFT bin with a non-zero weight
    private final int[] last; // per filter: one past the last

    /** CAM++'s: 80 bins. */
    public static KaldiFbank campPlus() {
        return new KaldiFbank(80);
    }

    public KaldiFbank(int bins) {
        if (bins < 1) {
            throw new IllegalArgumentException("mel bins must be >= 1, got " + bins);
        }
        this.bins = bins;
        window = new double[WINDOW];
        for (int n = 0; n < WINDOW; n++) {
            window[n] = Math.pow(0.5 - 0.5 * Math.cos(2 * Math.PI * n / (WINDOW - 1)), 0.85);
        }
        filters = new double[bins][FFT / 2];
        first = new int[bins];
        last = new int[bins];
        // The filter weights in float32 arithmetic, step by step as torchaudio's get_mel_banks computes them (and
        // Kaldi's MelBanks, in BaseFloat): in double the edge weights differ by ~1e-6, which moves the log of a
        // weak bin by ~3e-5.
        float melLow = (float) mel(LOW_HZ);
        float delta = (float) ((mel(SAMPLE_RATE / 2.0) - mel(LOW_HZ)) / (bins + 1));
        float binWidth = (float) SAMPLE_RATE / FFT;
        for (int m = 0; m < bins; m++) {
            float left = melLow + m * delta;
            float center = melLow + (m + 1) * delta;
            float right = melLow + (m + 2) * delta;
            first[m] = FFT / 2;
            for (int k = 0; k < FFT / 2; k++) {
                float f = 1127.0f * (float) Math.log(1.0f + binWidth * k / 700.0f);
                double w = Math.max(0f, Math.min((f - left) / (center - left), (right - f) / (right - center)));
                filters[m][k] = w;
                if (w > 0) {
                    first[m] = Math.min(first[m], k);
                    last[m] = k + 1;
                }
            }
        }
    }

    static double mel(double hz) {
        return 1127.0 * Math.log(1.0 + hz / 700.0);
    }

    public int bins() {
        return bins;
    }

    /** Whole 25 ms windows in {@code samples} samples (0 below one window). */
    public static int frames(int samples) {
        return samples < WINDOW ? 0 : 1 + (samples - WINDOW) / SHIFT;
    }

    /** 16 kHz samples (±1 scale, as torchaudio.load gives) → log mel energies [frames][bins]. */
    public float[][] compute(float[] wave) {
        int frames = frames(wave.length);
        if (frames == 0) {
            throw new IllegalArgumentException("a Kaldi fbank needs at least " + WINDOW + " samples (25 ms at 16 kHz), got "
                    + wave.length);
        }
        float[][] out = new float[frames][bins];
        double[] re = new double[FFT];
        double[] im = new double[FFT];
        double[] power = new double[FFT / 2];
        for (int t = 0; t < frames; t++) {
            frame(wave, t * SHIFT, re);
            Arrays.fill(im, 0);
            fft(re, im);
            for (int k = 0; k < FFT / 2; k++) {
                power[k] = re[k] * re[k] + im[k] * im[k];
            }
            for (int m = 0; m < bins; m++) {
                double e = 0;
                for (int k = first[m]; k < last[m]; k++) {
                    e += filters[m][k] * power[k];
                }
                out[t][m] = (float) Math.log(Math.max(e, FLOOR));
            }
        }
        return out;
    }

    /** The CAM++ input: {@link #compute} minus each bin's mean over time. */
    public float[][] campPlusFeatures(float[] wave) {
        float[][] f = compute(wave);
        subtractMean(f);
        return f;
    }

    /** Subtracts each bin's mean over the frames, in place ({@code feat - feat.mean(dim=0, keepdim=True)}). */
    public static void subtractMean(float[][] feat) {
        if (feat.length == 0) {
            return;
        }
        int bins = feat[0].length;
        for (int m = 0; m < bins; m++) {
            double sum = 0;
            for (float[] row : feat) {
                sum += row[m];
            }
            float mean = (float) (sum / feat.length);
            for (float[] row : feat) {
                row[m] -= mean;
            }
        }
    }

    /** One frame into {@code out} [FFT]: DC removed, pre-emphasised, windowed, zero-padded. */
    void frame(float[] wave, int start, double[] out) {
        double mean = 0;
        for (int n = 0; n < WINDOW; n++) {
            mean += wave[start + n];
        }
        mean /= WINDOW;
        double previous = wave[start] - mean; // Kaldi pre-emphasises the first sample against itself
        for (int n = 0; n < WINDOW; n++) {
            double x = wave[start + n] - mean;
            out[n] = (x - PREEMPHASIS * previous) * window[n];
            previous = x;
        }
        Arrays.fill(out, WINDOW, FFT, 0);
    }

    /** In-place iterative radix-2 FFT (length a power of two). */
    static void fft(double[] re, double[] im) {
        int n = re.length;
        for (int i = 1, j = 0; i < n; i++) { // bit-reversal permutation
            int bit = n >> 1;
            for (; (j & bit) != 0; bit >>= 1) {
                j ^= bit;
            }
            j ^= bit;
            if (i < j) {
                double t = re[i];
                re[i] = re[j];
                re[j] = t;
                t = im[i];
                im[i] = im[j];
                im[j] = t;
            }
        }
        for (int len = 2; len <= n; len <<= 1) { // butterflies, e^{-2πik/len}
            double angle = -2 * Math.PI / len;
            for (int k = 0; k < len / 2; k++) {
                double wr = Math.cos(angle * k);
                double wi = Math.sin(angle * k);
                for (int i = 0; i < n; i += len) {
                    int a = i + k;
                    int b = a + len / 2;
                    double xr = re[b] * wr - im[b] * wi;
                    double xi = re[b] * wi + im[b] * wr;
                    re[b] = re[a] - xr;
                    im[b] = im[a] - xi;
                    re[a] += xr;
                    im[a] += xi;
                }
            }
        }
    }
}
