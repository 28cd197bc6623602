package dev.omnicall.worker.engine;

import java.util.List;

/**
 * What the worker needs from the model runtime: start a turn (encoder, adaptor, LLM prefill) and advance
 * a group of started turns by one decode step. The worker's scheduler owns the order and the batch; the
 * engine owns tensors and numerics. {@link OmniTurnEngine} maps it onto {@code dev.omnicall.model}.
 *
 * <p>Not thread-safe: the worker calls it from its one loop thread.
 */
public interface TurnEngine extends AutoCloseable {

    /**
     * Runs log-mel, encoder, adaptor and the LLM prefill for one turn.
     *
     * @param input  the utterance and the conversation before it
     * @param reuse  the call's kept conversation state, or null; the engine takes ownership (it uses it when
     *               it covers exactly {@code input.history()}, and closes it otherwise)
     */
    EngineSession start(TurnInput input, ConversationSnapshot reuse);

    /**
     * Advances every session in {@code batch} by one token: one forward on the device when the engine
     * batches, one per session otherwise. Returns one result per session, in the order given.
     */
    List<StepOutput> step(List<EngineSession> batch);

    /**
     * As {@link #step(List)}, with the driver's word on caller transcription: {@code decoderMayRun} false means a
     * turn is queued or starting, and the engine must not spend the step on its caller decoder (nothing may stand
     * between a turn's arrival and its first audio); true lets each session advance its decoder by its share of the
     * step, leaving what a reply that ends has not decoded to {@link EngineSession#advanceCallerText}. Engines that do
     * not transcribe may ignore it.
     */
    default List<StepOutput> step(List<EngineSession> batch, boolean decoderMayRun) {
        return step(batch);
    }

    /** Frees the model's weights. */
    @Override
    void close();
}
