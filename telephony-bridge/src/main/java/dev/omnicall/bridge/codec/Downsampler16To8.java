package dev.omnicall.bridge.codec;

/**
 * 16 kHz → 8 kHz, streaming: a windowed-sinc low-pass at 3.6 kHz (stopband from about 4 kHz), then every
 * second sample. Filter history and the odd/even phase carry over between calls, so chunks of any length
 * (odd ones included) give exactly the samples that the whole signal would. One instance per stream;
 * not thread-safe. Delay: {@value #TAPS}/2 input samples (3 ms).
 */
public final class Downsampler16To8 {
    static final int TAPS = 96;
    /** The filter's delay in output (8 kHz) samples: an input sample's sound leaves this many outputs later. */
    public static final int DELAY_OUTPUT_SAMPLES = TAPS / 4;
    private static final float[] H = WindowedSinc.lowPass(TAPS, 3600.0 / 16000.0, 8.0, 1.0);

    private float[] work = new float[TAPS - 1 + 640];
    /** 1 when the next input sample falls on an odd absolute position (it produces no output). */
    private int skip;

    public short[] process(short[] in) {
        return process(in, 0, in.length);
    }

    public short[] process(short[] in, int from, int count) {
        int history = TAPS - 1;
        if (work.length < history + count) {
            float[] bigger = new float[history + count];
            System.arraycopy(work, 0, bigger, 0, history);
            work = bigger;
        }
        for (int i = 0; i < count; i++) {
            work[history + i] = in[from + i];
        }
        int outputs = count > skip ? (count - skip + 1) / 2 : 0;
        short[] out = new short[outputs];
        for (int o = 0; o < outputs; o++) {
            int j = history + skip + 2 * o;
            float acc = 0;
            for (int k = 0; k < TAPS; k++) {
                acc += H[k] * work[j - k];
            }
            out[o] = WindowedSinc.clip(acc);
        }
        skip = (skip + count) & 1;
        System.arraycopy(work, count, work, 0, history);
        return out;
    }

    public void reset() {
        java.util.Arrays.fill(work, 0f);
        skip = 0;
    }
}
