package dev.omnicall.worker;

import dev.omnicall.events.AudioChunk;
import dev.omnicall.events.CallerText;
import dev.omnicall.events.TextDelta;

/** Where the scheduler's output goes: the Kafka producer in the worker, a list in tests. */
public interface TurnOutput {

    /** How a turn ended. */
    enum Outcome { COMPLETED, CANCELLED, FAILED }

    void text(Turn turn, TextDelta delta);

    void audio(Turn turn, AudioChunk chunk);

    /** What the caller said in this turn attempt (at most one per attempt, before {@link #finished}). */
    void callerText(Turn turn, CallerText text);

    /**
     * The caller's transcription failed on this turn's utterance (the reply is unaffected): the worker
     * dead-letters the request with the error. At most once per attempt, before {@link #finished}.
     */
    void transcriptionFailed(Turn turn, Throwable error);

    /**
     * The turn will produce nothing more: its offset may be committed. {@code error} is set when
     * {@code outcome} is FAILED (the worker dead-letters the request).
     */
    void finished(Turn turn, Outcome outcome, Throwable error);
}
