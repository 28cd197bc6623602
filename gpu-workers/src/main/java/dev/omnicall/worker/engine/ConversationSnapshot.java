package dev.omnicall.worker.engine;

/** A call's kept LLM state (KV cache and what it covers), reusable by the call's next turn. */
public interface ConversationSnapshot extends AutoCloseable {

    /** Device memory the snapshot holds, for the worker's cache bound. */
    long bytes();

    /** Frees the device memory; safe to call twice. */
    @Override
    void close();
}
