package dev.omnicall.bridge.vad;

/**
 * Silero VAD v5 for one call: 32 ms frames with the model's recurrent state and the last samples of the previous
 * frame carried from frame to frame (the model was exported to take them as context). The bridge's frames are 512
 * samples at 16 kHz; at the model's 8 kHz rate ({@link SileroModel#sampleRate()}) the VAD hears every other sample
 * of them (256 samples, 32 of context): the 16 kHz frames are telephone audio upsampled from 8 kHz, band-limited
 * to 3.8 kHz, so every other sample is that 8 kHz audio (a quarter-sample later). If an inference fails, the frame
 * is reported as 0 and the state is reset: a VAD error must not stop the call.
 */
public final class SileroVad implements BatchableVad {
    static final int STATE_SIZE = 2 * 128;

    private final SileroModel model;
    private final int step;            // 1 at 16 kHz, 2 at 8 kHz: which samples of the 16 kHz frame the model hears
    private final float[] context;     // the last samples the model heard (or skipped), scaled to -1..1
    private final float[] state = new float[STATE_SIZE];
    private long failures;

    SileroVad(SileroModel model) {
        this.model = model;
        this.step = Vad.SAMPLE_RATE / model.sampleRate();
        this.context = new float[model.contextSamples()];
    }

    @Override
    public float speechProbability(short[] frame) {
        try {
            return model.speechProbabilities(new SileroVad[] {this}, new short[][] {frame})[0];
        } catch (IllegalArgumentException e) {
            throw e;
        } catch (Exception e) {
            batchFailed();
            return 0f;
        }
    }

    /** Without a gate every frame goes to the model. */
    @Override
    public float gate(short[] frame) {
        return Float.NaN;
    }

    @Override
    public void modelAnswered(short[] frame, float p) {
    }

    @Override
    public short[][] takeWarmUp() {
        return new short[0][];
    }

    @Override
    public SileroVad silero() {
        return this;
    }

    SileroModel model() {
        return model;
    }

    /** A batched run failed: as when one run of this call fails, the frame counts as silence and the state starts over. */
    void batchFailed() {
        failures++;
        reset();
    }

    private static void checkFrame(short[] frame) {
        if (frame.length != FRAME_SAMPLES) {
            throw new IllegalArgumentException("Silero VAD takes " + FRAME_SAMPLES + "-sample frames, got " + frame.length);
        }
    }

    /**
     * Batched inference: writes this call's model input for {@code frame} (the context, then the frame at the model's
     * rate, scaled to -1..1) into {@code input} from {@code at}, straight where the batch's tensor reads it.
     */
    void writeInput(short[] frame, float[] input, int at) {
        checkFrame(frame);
        System.arraycopy(context, 0, input, at, context.length);
        int to = at + context.length;
        for (int i = 0; i < FRAME_SAMPLES; i += step) {
            input[to++] = frame[i] / 32768f;
        }
    }

    /** Batched inference: this call's recurrent state, [2][128] flattened; the batch reads and writes it in place. */
    float[] batchState() {
        return state;
    }

    /** Batched inference: {@code frame} was run; its last samples are the next frame's context. */
    void batchDone(short[] frame) {
        keepContext(frame);
    }

    /**
     * A frame the model does not see (the energy gate skipped it): only the context moves on, so the next frame the
     * model sees has the samples that really came before it; the recurrent state stays.
     */
    void skip(short[] frame) {
        checkFrame(frame);
        keepContext(frame);
    }

    private void keepContext(short[] frame) {
        int from = FRAME_SAMPLES - context.length * step;
        for (int i = 0; i < context.length; i++) {
            context[i] = frame[from + i * step] / 32768f;
        }
    }

    /** Inferences that failed since this VAD was made. */
    public long failures() {
        return failures;
    }

    @Override
    public void reset() {
        java.util.Arrays.fill(state, 0f);
        java.util.Arrays.fill(context, 0f);
    }

    @Override
    public String name() {
        return "silero";
    }

    @Override
    public void close() {
        // the shared model is closed by its owner
    }
}
