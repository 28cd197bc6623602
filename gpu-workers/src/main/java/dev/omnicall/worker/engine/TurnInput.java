package dev.omnicall.worker.engine;

import java.util.List;
import java.util.Objects;

/**
 * One turn as the engine sees it.
 *
 * @param callId       the call, for logs and the engine's own bookkeeping
 * @param pcm16k       the utterance: 16 kHz mono samples
 * @param history      the conversation before it, oldest first
 */
public record TurnInput(String callId, short[] pcm16k, List<PastTurn> history) {

    public TurnInput {
        Objects.requireNonNull(callId, "callId");
        Objects.requireNonNull(pcm16k, "pcm16k");
        history = List.copyOf(history);
    }

    /**
     * One earlier exchange.
     *
     * @param userText      what the caller said as text, when known
     * @param userAudio16k  what the caller said as audio (16 kHz), kept only for recent turns; may be null
     * @param assistantText what the assistant answered (possibly cut short by a barge-in)
     */
    public record PastTurn(int turnId, String userText, short[] userAudio16k, String assistantText) {
        public PastTurn {
            Objects.requireNonNull(assistantText, "assistantText");
        }
    }
}
