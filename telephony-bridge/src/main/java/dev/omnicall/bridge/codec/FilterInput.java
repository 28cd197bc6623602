package dev.omnicall.bridge.codec;

import java.util.Arrays;

/**
 * The input side of a streaming FIR filter: the last {@code history} samples of earlier calls followed by this call's
 * samples, in one float buffer that grows to the largest call seen. {@link DownsamplerTo8k} and
 * {@link Upsampler8To16} read taps backwards from {@code history + i}.
 */
final class FilterInput {
    private final int history;
    private float[] work;

    FilterInput(int history, int typicalCount) {
        this.history = history;
        this.work = new float[history + typicalCount];
    }

    int history() {
        return history;
    }

    /** Appends {@code in[from, from + count)} after the history and returns the buffer (valid until the next call). */
    float[] load(short[] in, int from, int count) {
        if (work.length < history + count) {
            float[] bigger = new float[history + count];
            System.arraycopy(work, 0, bigger, 0, history);
            work = bigger;
        }
        for (int i = 0; i < count; i++) {
            work[history + i] = in[from + i];
        }
        return work;
    }

    /** Keeps the last {@code history} samples of what {@link #load} gave as the next call's history. */
    void advance(int count) {
        System.arraycopy(work, count, work, 0, history);
    }

    void reset() {
        Arrays.fill(work, 0f);
    }
}
