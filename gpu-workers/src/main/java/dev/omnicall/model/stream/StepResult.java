package dev.omnicall.model.stream;

import java.util.List;

/**
 * What one step produced: the new piece of reply text (may be empty: an end-of-turn token or an
 * incomplete UTF-8 sequence held back), the token id (-1 when the turn was already over), zero or more
 * audio chunks, and whether the turn is now finished (done) or was cancelled.
 */
public record StepResult(String text, long tokenId, List<AudioPiece> audio, boolean done, boolean cancelled) {
    static StepResult finished(boolean cancelled) {
        return new StepResult("", -1, List.of(), true, cancelled);
    }
}
