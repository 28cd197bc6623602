package dev.omnicall.bridge.vad;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.Map;

/**
 * Silero VAD v5 for one call: 512-sample 16 kHz frames, with the model's recurrent state and the last
 * 64 samples of the previous frame carried from frame to frame (the model was exported to take them as
 * context). If an inference fails, the frame is reported as 0 and the state is reset: a VAD error must
 * not stop the call.
 */
public final class SileroVad implements BatchableVad {
    static final int CONTEXT_SAMPLES = 64;
    private static final long[] INPUT_SHAPE = {1, CONTEXT_SAMPLES + FRAME_SAMPLES};
    private static final long[] STATE_SHAPE = {2, 1, 128};
    private static final int STATE_SIZE = 2 * 128;

    private final SileroModel model;
    private final float[] input = new float[CONTEXT_SAMPLES + FRAME_SAMPLES];
    private final float[] state = new float[STATE_SIZE];
    private long failures;

    SileroVad(SileroModel model) {
        this.model = model;
    }

    @Override
    public float speechProbability(short[] frame) {
        if (frame.length != FRAME_SAMPLES) {
            throw new IllegalArgumentException("Silero VAD takes " + FRAME_SAMPLES + "-sample frames, got " + frame.length);
        }
        for (int i = 0; i < FRAME_SAMPLES; i++) {
            input[CONTEXT_SAMPLES + i] = frame[i] / 32768f;
        }
        float probability;
        try (OnnxTensor x = OnnxTensor.createTensor(model.env(), FloatBuffer.wrap(input), INPUT_SHAPE);
             OnnxTensor h = OnnxTensor.createTensor(model.env(), FloatBuffer.wrap(state), STATE_SHAPE);
             OnnxTensor sr = OnnxTensor.createTensor(model.env(), LongBuffer.wrap(new long[] {SAMPLE_RATE}), new long[0]);
             OrtSession.Result result = model.session().run(Map.of(
                     SileroModel.INPUT, x, SileroModel.STATE, h, SileroModel.SAMPLE_RATE, sr))) {
            probability = ((float[][]) result.get(SileroModel.OUTPUT).orElseThrow().getValue())[0][0];
            FloatBuffer next = ((OnnxTensor) result.get(SileroModel.STATE_OUT).orElseThrow()).getFloatBuffer();
            next.get(state);
        } catch (OrtException | RuntimeException e) {
            failures++;
            reset();
            return 0f;
        }
        System.arraycopy(input, FRAME_SAMPLES, input, 0, CONTEXT_SAMPLES);
        return probability;
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

    /** Batched inference: this call's model input (context + frame, scaled) for {@code frame}. */
    float[] batchInput(short[] frame) {
        if (frame.length != FRAME_SAMPLES) {
            throw new IllegalArgumentException("Silero VAD takes " + FRAME_SAMPLES + "-sample frames, got " + frame.length);
        }
        for (int i = 0; i < FRAME_SAMPLES; i++) {
            input[CONTEXT_SAMPLES + i] = frame[i] / 32768f;
        }
        return input;
    }

    /** Batched inference: this call's recurrent state, [2][128] flattened. */
    float[] batchState() {
        return state;
    }

    /** Batched inference: the frame given to {@link #batchInput} was run; the state was updated in place. */
    void batchDone() {
        System.arraycopy(input, FRAME_SAMPLES, input, 0, CONTEXT_SAMPLES);
    }

    /**
     * A frame the model does not see (the energy gate skipped it): only the 64-sample context moves on, so the next
     * frame the model sees has the samples that really came before it; the recurrent state stays.
     */
    void skip(short[] frame) {
        if (frame.length != FRAME_SAMPLES) {
            throw new IllegalArgumentException("Silero VAD takes " + FRAME_SAMPLES + "-sample frames, got " + frame.length);
        }
        for (int i = 0; i < CONTEXT_SAMPLES; i++) {
            input[i] = frame[FRAME_SAMPLES - CONTEXT_SAMPLES + i] / 32768f;
        }
    }

    /** Inferences that failed since this VAD was made. */
    public long failures() {
        return failures;
    }

    @Override
    public void reset() {
        java.util.Arrays.fill(state, 0f);
        java.util.Arrays.fill(input, 0f);
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
