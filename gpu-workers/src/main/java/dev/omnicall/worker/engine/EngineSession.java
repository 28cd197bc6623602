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
