package dev.omnicall.worker;

/**
 * What the worker reports. Framework-free so the library stays testable; the Quarkus app passes a
 * {@link MicrometerWorkerMetrics} bound to its registry, tests and {@link WorkerMain} a
 * {@link CountingWorkerMetrics}. Called from the worker's loop thread.
 */
public interface WorkerMetrics {

    /** Turns read and waiting for a batch slot. */
    void queueDepth(int waiting);

    /** Turns in the running batch (prefilled, generating). */
    void activeTurns(int active);

    /** Sessions advanced by one decode step (the batch size of that step). */
    void decodeStep(int batchSize);

    /** Tokens generated (one per session per step); a rate of this counter is tokens/s. */
    void tokens(int count);

    /** A record went to the dead-letter topic; {@code reason} is a short stable word (no-audio, sample-rate, ...). */
    void deadLetter(String reason);

    /** A turn was cancelled; {@code reason} is barge-in, call-ended or revoked. */
    void cancellation(String reason);

    /** A turn completed; {@code firstAudioMicros} is inference start to first chunk produced (-1 if none). */
    void turnCompleted(long firstAudioMicros);

    /** A turn's start found (hit) or did not find (miss) the call's kept KV cache. */
    void kvCache(boolean hit);

    /**
     * One utterance's caller transcription ended: {@code ok} (published as CallerText) or failed (dead-lettered);
     * {@code decodeCpuMicros} is the time spent inside the decoder on it.
     */
    void transcription(boolean ok, long decodeCpuMicros);

    /**
     * A decode step ran with the caller decoder held: a turn was queued, starting, or still without its first
     * audio (the scheduler's rule that transcription never delays first audio).
     */
    /** {@link #playbackMargin}'s value when no turn speaks (no margin, which is not 0: the gauge reads NaN). */
    long NO_PLAYBACK_MARGIN = Long.MIN_VALUE;

    /**
     * The least audio ahead of playback over the speaking turns after a loop (µs; negative: a caller hears a gap):
     * the real-time admission's margin; {@link #NO_PLAYBACK_MARGIN} once no turn speaks, so that an idle worker
     * does not go on showing its last call's margin.
     */
    default void playbackMargin(long micros) {
    }

    /** A loop in which waiting turns were not admitted because a speaking turn was short of the margin. */
    default void admissionHeld() {
    }

    default void decoderHeld() {
    }

    /**
     * A caller transcript (CallerText or its dead letter) was handed to the output {@code delayMicros} after the
     * worker read the turn's request: the figure the {@code transcribe.max-delay} bound is about.
     */
    default void transcriptDelay(long delayMicros) {
    }

    /**
     * {@code tokens} caller-decoder tokens were run for a transcript near its delay bound while the decoder was
     * otherwise held (or beyond the step's share): the price the bound takes from others' steps.
     */
    default void decoderForced(int tokens) {
    }

    /**
     * A reply's speech was cut short by a limit of the engine and ended there with its final chunk: {@code reason} is
     * a short stable word ({@code tts-cap}: the TTS LM reached its final cap without its end token;
     * {@code flow-noise}: the reply reached the flow noise's length, 300 s of audio).
     */
    default void replyCut(String reason) {
    }

    /** Reports nothing. */
    WorkerMetrics NOOP = new WorkerMetrics() {
        @Override public void queueDepth(int waiting) { }
        @Override public void activeTurns(int active) { }
        @Override public void decodeStep(int batchSize) { }
        @Override public void tokens(int count) { }
        @Override public void deadLetter(String reason) { }
        @Override public void cancellation(String reason) { }
        @Override public void turnCompleted(long firstAudioMicros) { }
        @Override public void kvCache(boolean hit) { }
        @Override public void transcription(boolean ok, long decodeCpuMicros) { }
    };
}
