package dev.omnicall.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * Whisper's log-mel spectrogram: 16 kHz audio padded or trimmed to a fixed length, STFT (n_fft 400,
 * hop 160, periodic Hann, centred with reflect padding, last frame dropped), power, 128 Slaney mel
 * filters (librosa's, computed here), log10 clamped at 1e-10, floored at max-8, then (x+4)/4.
 *
 * <p>The reference pads every input to 30 s (3000 frames). {@code paddedSeconds = 0} is the latency
 * option: the audio keeps its own length, rounded up to whole speech embeddings (0.1 s = 10 frames =
 * 5 encoder frames = 1 adaptor row), at most 30 s.
 */
public final class LogMelFrontend {
    public static final int SAMPLE_RATE = 16000;
    public static final int N_FFT = 400;
    public static final int HOP = 160;
    public static final int MAX_SAMPLES = 30 * SAMPLE_RATE;
    /** Samples per speech embedding: 10 mel frames -> 5 encoder frames -> 1 adaptor row. */
    public static final int SAMPLES_PER_ROW = 10 * HOP;
    private static final int BINS = N_FFT / 2 + 1;

    private final int nMels;
    private final double paddedSeconds;
    private final NDArray dftCos; // [N_FFT, BINS], Hann window folded in
    private final NDArray dftSin; // [N_FFT, BINS], Hann window folded in
    private final NDArray melFilters; // [BINS, nMels]

    /** Audio as float in [-1, 1] (what {@link #forward} takes) from signed 16-bit PCM. */
    public static float[] pcmToFloat(short[] pcm) {
        float[] out = new float[pcm.length];
        for (int i = 0; i < pcm.length; i++) {
            out[i] = pcm[i] / 32768f;
        }
        return out;
    }

    /** paddedSeconds: 30 as the reference; 0 for the input's own length. */
    public LogMelFrontend(NDManager manager, int nMels, double paddedSeconds) {
        if (paddedSeconds < 0 || paddedSeconds > 30) {
            throw new IllegalArgumentException("paddedSeconds must be in [0, 30], got " + paddedSeconds);
        }
        this.nMels = nMels;
        this.paddedSeconds = paddedSeconds;
        float[] cos = new float[N_FFT * BINS];
        float[] sin = new float[N_FFT * BINS];
        for (int n = 0; n < N_FFT; n++) {
            double window = 0.5 - 0.5 * Math.cos(2 * Math.PI * n / N_FFT); // periodic Hann
            for (int k = 0; k < BINS; k++) {
                double angle = 2 * Math.PI * ((long) k * n % N_FFT) / N_FFT;
                cos[n * BINS + k] = (float) (window * Math.cos(angle));
                sin[n * BINS + k] = (float) (window * Math.sin(angle));
            }
        }
        this.dftCos = manager.create(cos, new Shape(N_FFT, BINS));
        this.dftSin = manager.create(sin, new Shape(N_FFT, BINS));
        this.melFilters = manager.create(slaneyMelFilters(SAMPLE_RATE, N_FFT, nMels), new Shape(BINS, nMels));
    }

    public int nMels() {
        return nMels;
    }

    /** Samples after padding/trimming an input of the given length. */
    public int paddedLength(int samples) {
        if (paddedSeconds > 0) {
            return (int) Math.round(paddedSeconds * SAMPLE_RATE) / SAMPLES_PER_ROW * SAMPLES_PER_ROW;
        }
        int rows = Math.max(1, (samples + SAMPLES_PER_ROW - 1) / SAMPLES_PER_ROW);
        return Math.min(MAX_SAMPLES, rows * SAMPLES_PER_ROW);
    }

    /** Log-mel frames {@link #forward} gives for an input of the given length (known before it runs). */
    public int frames(int samples) {
        return paddedLength(samples) / HOP;
    }

    /** audio in [-1, 1] at 16 kHz -> log-mel [nMels, frames]. */
    public NDArray forward(NDManager manager, float[] audio) {
        // pad with zeros or trim to the configured length
        int length = paddedLength(audio.length);
        float[] x = java.util.Arrays.copyOf(audio, length);
        // centre: reflect-pad n_fft/2 each side; frame with hop 160, dropping the last frame
        int pad = N_FFT / 2;
        int frames = length / HOP;
        float[] framed = new float[frames * N_FFT];
        for (int f = 0; f < frames; f++) {
            for (int n = 0; n < N_FFT; n++) {
                framed[f * N_FFT + n] = x[reflect(f * HOP + n - pad, length)];
            }
        }
        DataType type = dftCos.getDataType();
        return Ops.scoped(() -> {
            NDArray frameMatrix = manager.create(framed, new Shape(frames, N_FFT)).toType(type, false);
            // power spectrum |X|^2 [frames, BINS]
            NDArray re = frameMatrix.matMul(dftCos);
            NDArray im = frameMatrix.matMul(dftSin);
            NDArray power = re.square().add(im.square());
            // mel filterbank [frames, nMels]
            NDArray mel = power.matMul(melFilters);
            // log10 with a floor, dynamic range limited to 8 (80 dB) below the maximum
            NDArray log = mel.maximum(1e-10f).log10();
            log = log.maximum(log.max().getFloat() - 8.0f);
            // scale to about [-1, 1], mel bins first
            return log.add(4.0f).div(4.0f).transpose(1, 0);
        });
    }

    private static int reflect(int i, int length) {
        if (i < 0) {
            return -i;
        }
        if (i >= length) {
            return 2 * (length - 1) - i;
        }
        return i;
    }

    /** librosa.filters.mel(sr, n_fft, n_mels) with htk=False and norm='slaney': [n_fft/2+1, n_mels]. */
    static float[] slaneyMelFilters(int sampleRate, int nFft, int nMels) {
        int bins = nFft / 2 + 1;
        double[] fftFreqs = new double[bins];
        for (int i = 0; i < bins; i++) {
            fftFreqs[i] = (double) i * sampleRate / nFft;
        }
        double minMel = hzToMel(0);
        double maxMel = hzToMel(sampleRate / 2.0);
        double[] melHz = new double[nMels + 2];
        for (int i = 0; i < nMels + 2; i++) {
            melHz[i] = melToHz(minMel + (maxMel - minMel) * i / (nMels + 1));
        }
        float[] weights = new float[bins * nMels];
        for (int m = 0; m < nMels; m++) {
            double lowerWidth = melHz[m + 1] - melHz[m];
            double upperWidth = melHz[m + 2] - melHz[m + 1];
            double enorm = 2.0 / (melHz[m + 2] - melHz[m]);
            for (int b = 0; b < bins; b++) {
                double lower = (fftFreqs[b] - melHz[m]) / lowerWidth;
                double upper = (melHz[m + 2] - fftFreqs[b]) / upperWidth;
                weights[b * nMels + m] = (float) (Math.max(0, Math.min(lower, upper)) * enorm);
            }
        }
        return weights;
    }

    // Slaney's auditory-toolbox mel scale: linear below 1 kHz, logarithmic above.
    private static final double F_SP = 200.0 / 3;
    private static final double MIN_LOG_HZ = 1000.0;
    private static final double MIN_LOG_MEL = MIN_LOG_HZ / F_SP;
    private static final double LOG_STEP = Math.log(6.4) / 27.0;

    static double hzToMel(double hz) {
        return hz < MIN_LOG_HZ ? hz / F_SP : MIN_LOG_MEL + Math.log(hz / MIN_LOG_HZ) / LOG_STEP;
    }

    static double melToHz(double mel) {
        return mel < MIN_LOG_MEL ? mel * F_SP : MIN_LOG_HZ * Math.exp(LOG_STEP * (mel - MIN_LOG_MEL));
    }
}
