package dev.omnicall.worker.engine;

import java.util.List;
import java.util.Objects;

/**
 * One turn as the engine sees it.
 *
 * @param callId       the call, for logs and the engine's own bookkeeping
 * @param pcm16k       the utterance: 16 kHz mono samples
 * @param history      the conversation before it, oldest first
 * @param maxNewTokens the token limit of the reply
 */
public record TurnInput(String callId, short[] pcm16k, List<PastTurn> history, int maxNewTokens) {

    public TurnInput {
        Objects.requireNonNull(callId, "callId");
        Objects.requireNonNull(pcm16k, "pcm16k");
        history = List.copyOf(history);
        if (maxNewTokens < 1) {
            throw new IllegalArgumentException("maxNewTokens must be >= 1, got " + maxNewTokens);
        }
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
