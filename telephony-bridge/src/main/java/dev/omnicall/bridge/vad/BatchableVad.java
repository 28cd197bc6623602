package dev.omnicall.bridge.vad;

/**
 * A Silero VAD whose model runs can be batched across calls ({@link VadBatch}): {@link #gate} decides whether a
 * frame needs the model at all, the batch runs the frames that do (one ONNX Runtime run for all calls), and
 * {@link #modelAnswered} hands the answer back. {@code speechProbability(frame)} is exactly {@code gate}, then (if
 * NaN) the warm-up frames and the frame run by this call alone, then {@code modelAnswered}.
 */
public interface BatchableVad extends Vad {

    /** The probability when the model need not run {@code frame}; NaN when it must (the next model run of this call). */
    float gate(short[] frame);

    /**
     * Frames the model must run, in order, before the frame {@link #gate} just returned NaN for (a gate that opens
     * replays the run-up to the onset); their answers are not used. Taken once; empty when there are none.
     */
    short[][] takeWarmUp();

    /** The model's probability for the frame {@link #gate} returned NaN for. */
    void modelAnswered(short[] frame, float p);

    /** The call's Silero state, which the batch runs. */
    SileroVad silero();
}
