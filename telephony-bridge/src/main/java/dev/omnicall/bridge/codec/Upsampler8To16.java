package dev.omnicall.bridge.codec;

/**
 * 8 kHz → 16 kHz, streaming: a 2x polyphase interpolator with a windowed-sinc low-pass at 3.8 kHz.
 * The filter history is kept between calls, so feeding a signal packet by packet gives exactly the
 * samples that feeding it whole would (no clicks at packet boundaries). One instance per stream;
 * not thread-safe. Delay: {@value #TAPS}/2 output samples (3 ms).
 */
public final class Upsampler8To16 {
    static final int TAPS = 96;
    private static final int PHASE_TAPS = TAPS / 2;
    private static final float[] EVEN;
    private static final float[] ODD;

    static {
        float[] h = WindowedSinc.lowPass(TAPS, 3800.0 / 16000.0, 8.0, 2.0);
        EVEN = new float[PHASE_TAPS];
        ODD = new float[PHASE_TAPS];
        for (int k = 0; k < PHASE_TAPS; k++) {
            EVEN[k] = h[2 * k];
            ODD[k] = h[2 * k + 1];
        }
    }

    private final FilterInput input = new FilterInput(PHASE_TAPS - 1, 320);

    /** Returns twice as many 16 kHz samples as {@code in} holds. */
    public short[] process(short[] in) {
        return process(in, 0, in.length);
    }

    public short[] process(short[] in, int from, int count) {
        int history = input.history();
        float[] work = input.load(in, from, count);
        short[] out = new short[2 * count];
        for (int n = 0; n < count; n++) {
            int j = history + n;
            float even = 0;
            float odd = 0;
            for (int k = 0; k < PHASE_TAPS; k++) {
                float x = work[j - k];
                even += EVEN[k] * x;
                odd += ODD[k] * x;
            }
            out[2 * n] = WindowedSinc.clip(even);
            out[2 * n + 1] = WindowedSinc.clip(odd);
        }
        input.advance(count);
        return out;
    }

    public void reset() {
        input.reset();
    }
}
