package dev.omnicall.worker.engine;

/** One started turn inside the engine: its KV caches, its CTC and vocoder state. */
public interface EngineSession extends AutoCloseable {

    /** True when {@link TurnEngine#start} reused the call's kept conversation state instead of a cold prefill. */
    boolean reusedSnapshot();

    /** When the first Ω units left the CTC decoder (epoch µs), if the engine stamps it; 0 otherwise. */
    default long firstUnitsUs() {
        return 0;
    }

    /** When the vocoder returned the first audio (epoch µs), if the engine stamps it; 0 otherwise. */
    default long firstAudioUs() {
        return 0;
    }

    /**
     * True while the session's caller transcript has not been handed out (in a {@link StepOutput} or by
     * {@link #advanceCallerText}); false when the engine does not transcribe.
     */
    default boolean callerTextPending() {
        return false;
    }

    /**
     * For a session that stopped with its caller transcript unfinished (cancelled by a barge-in or hang-up: the
     * caller still said the words; or done while another turn of its batch still waited for its first audio):
     * decodes up to {@code tokens} more caller tokens ({@code Integer.MAX_VALUE}: all that is left) and returns
     * the transcript once finished (once); null while unfinished or when there is none. Call before {@link #close()}.
     */
    default StepOutput.CallerText advanceCallerText(int tokens) {
        return null;
    }

    /**
     * An upper bound on the caller-decoder tokens still to run before the transcript is finished (0 when none is
     * pending). The scheduler paces {@link #advanceCallerText} by it so a held transcript still meets its delay
     * bound; an engine that cannot tell answers {@code Integer.MAX_VALUE} while one is pending (the scheduler then
     * finishes the transcript in one call once it is due).
     */
    default int callerTokensLeft() {
        return callerTextPending() ? Integer.MAX_VALUE : 0;
    }

    /**
     * Why the reply's speech was cut short by a limit of the engine and ended early with its final chunk (a short
     * stable word for {@code WorkerMetrics.replyCut}), or null when it ended on its own.
     */
    default String cutShort() {
        return null;
    }

    /** True once the session produced its last output (EOS or the token limit, audio flushed). */
    boolean done();

    /**
     * After {@link #done()}: the conversation state worth keeping for the call's next turn (prompt, history,
     * this turn and its answer), or null when the engine keeps none. The caller owns the snapshot.
     */
    ConversationSnapshot keep();

    /** Frees what the session holds; safe after {@link #keep()} and safe to call twice. */
    @Override
    void close();
}
