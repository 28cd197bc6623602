package dev.omnicall.worker.engine;

import java.util.List;

/**
 * What the worker needs from the model runtime: start a turn (encoder, adaptor, LLM prefill) and advance
 * a group of started turns by one decode step. The worker's scheduler owns the order and the batch; the
 * engine owns tensors and numerics. {@link OmniTurnEngine} maps it onto {@code dev.omnicall.model}.
 *
 * <p>Not thread-safe: the worker calls it from its engine thread only.
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
     * A turn being started in slices (chunked prefill): {@link #begin} ran its first slice (the encoder and the
     * prompt); each {@link #advance()} runs one more (a slice of the prefill), so a driver interleaves them with the
     * running turns' steps.
     */
    interface StartingSession extends AutoCloseable {
        /** True once the start is complete and {@link #session()} may be taken. */
        boolean ready();

        /** Runs the next slice; true once the start is complete. */
        boolean advance();

        /** Runs all that is left in one go (nobody is waiting for the slices). */
        default void finish() {
            while (!advance()) {
                // slice after slice
            }
        }

        /** The started session (once ready); the caller owns it from then on. */
        EngineSession session();

        /** Abandons an unfinished start and frees what it holds; nothing once the session was taken. */
        @Override
        void close();
    }

    /**
     * Starts a turn in slices: the first one now, the rest by {@link StartingSession#advance()}. Same session as
     * {@link #start} (tested where an engine slices). This default runs the whole {@link #start} now.
     */
    default StartingSession begin(TurnInput input, ConversationSnapshot reuse) {
        EngineSession started = start(input, reuse);
        return new StartingSession() {
            private boolean taken;

            @Override
            public boolean ready() {
                return true;
            }

            @Override
            public boolean advance() {
                return true;
            }

            @Override
            public EngineSession session() {
                taken = true;
                return started;
            }

            @Override
            public void close() {
                if (!taken) {
                    started.close();
                }
            }
        };
    }

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
