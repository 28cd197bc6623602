package dev.omnicall.bridge.codec;

import java.util.Arrays;

/**
 * Reply audio at 8, 16 or 24 kHz to 8 kHz telephone audio, streaming.
 *
 * <p>16 and 24 kHz go through an anti-aliasing windowed-sinc low-pass (Kaiser β=8, -6 dB at 3.6 kHz) that is
 * evaluated only at the samples kept (every 2nd or 3rd input position): the cost of a polyphase decimator,
 * {@code taps} multiply-adds per output sample and nothing for the input samples dropped.
 * The filter is the same in hertz at both rates (48 taps per 8 kHz of input rate: 96 at 16 kHz, 144 at 24 kHz):
 * flat to 0.001 dB up to 3 kHz, -0.8 dB at 3.4 kHz, at least 85 dB down from 4.2 kHz on (the design's
 * response; {@code DownsamplerTo8kTest} measures tones), and both delay the sound by 24 output samples (3 ms).
 * 8 kHz audio passes through unchanged (no rate change, nothing to filter, no delay).
 *
 * <p>Filter history and the decimation phase carry over between calls, so chunks of any length (odd ones
 * included) give exactly the samples that the whole signal would. One instance per stream; not thread-safe.
 */
public final class DownsamplerTo8k {

    public static final int OUTPUT_RATE = 8000;
    /** Filter length per unit of decimation factor; keeps the transition band the same width in hertz. */
    private static final int TAPS_PER_FACTOR = 48;
    private static final double CUTOFF_HZ = 3600.0;
    private static final double KAISER_BETA = 8.0;
    private static final float[] H_16K = design(2);
    private static final float[] H_24K = design(3);

    private final int inputRate;
    private final int factor;
    private final float[] h;
    private final FilterInput input;
    /** Input samples still to skip before the next one that produces an output (0..factor-1). */
    private int skip;

    private DownsamplerTo8k(int inputRate) {
        this.inputRate = inputRate;
        this.factor = inputRate / OUTPUT_RATE;
        this.h = switch (inputRate) {
            case 16_000 -> H_16K;
            case 24_000 -> H_24K;
            default -> new float[0];
        };
        this.input = new FilterInput(Math.max(0, h.length - 1), 640);
    }

    /** Whether chunks at {@code sampleRate} Hz can be played. */
    public static boolean supports(int sampleRate) {
        return sampleRate == 8_000 || sampleRate == 16_000 || sampleRate == 24_000;
    }

    /** Throws {@link IllegalArgumentException} naming the rate and the ones supported, unless it is one of them. */
    public static void requireSupported(int sampleRate) {
        if (!supports(sampleRate)) {
            throw new IllegalArgumentException("sample rate " + sampleRate
                    + " Hz is not supported: the bridge plays 8000, 16000 and 24000 Hz reply audio");
        }
    }

    /** A fresh downsampler from {@code sampleRate} (8000, 16000 or 24000) to 8 kHz. */
    public static DownsamplerTo8k forRate(int sampleRate) {
        requireSupported(sampleRate);
        return new DownsamplerTo8k(sampleRate);
    }

    public int inputRate() {
        return inputRate;
    }

    /** Input samples per output sample: 1, 2 or 3. */
    public int factor() {
        return factor;
    }

    /** The filter's delay in output (8 kHz) samples: an input sample's sound leaves this many outputs later. */
    public int delayOutputSamples() {
        return h.length / (2 * factor);
    }

    /** The 8 kHz samples that {@code inputSamples} more input samples will produce in this phase. */
    public int outputsFor(int inputSamples) {
        return inputSamples > skip ? (inputSamples - skip + factor - 1) / factor : 0;
    }

    /** The filter coefficients (a copy; empty at 8 kHz), for tests that check against a reference. */
    float[] coefficients() {
        return h.clone();
    }

    public short[] process(short[] in) {
        return process(in, 0, in.length);
    }

    public short[] process(short[] in, int from, int count) {
        if (factor == 1) {
            return Arrays.copyOfRange(in, from, from + count);
        }
        int taps = h.length;
        int history = input.history();
        float[] work = input.load(in, from, count);
        short[] out = new short[outputsFor(count)];
        for (int o = 0; o < out.length; o++) {
            int j = history + skip + factor * o;
            float acc = 0;
            for (int k = 0; k < taps; k++) {
                acc += h[k] * work[j - k];
            }
            out[o] = WindowedSinc.clip(acc);
        }
        skip = Math.floorMod(skip - count, factor);
        input.advance(count);
        return out;
    }

    /**
     * Feeds one filter length of silence and returns what comes out: the last {@link #delayOutputSamples()} samples
     * of sound still in the filter, then silence. Empty at 8 kHz.
     */
    public short[] flush() {
        return h.length == 0 ? new short[0] : process(new short[h.length]);
    }

    public void reset() {
        input.reset();
        skip = 0;
    }

    private static float[] design(int factor) {
        return WindowedSinc.lowPass(TAPS_PER_FACTOR * factor, CUTOFF_HZ / (OUTPUT_RATE * factor), KAISER_BETA, 1.0);
    }
}
