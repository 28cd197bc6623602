package dev.omnicall.model.omni;

import dev.omnicall.model.stream.AudioPiece;
import dev.omnicall.model.stream.CallerTranscript;
import java.util.List;

/**
 * What one step produced: the new piece of reply text (may be empty: an end-of-turn token or an
 * incomplete UTF-8 sequence held back), the token id (-1 when the turn was already over), zero or more
 * audio chunks, whether the turn is now finished (done) or was cancelled, and the caller's transcript when
 * it was finished in this step (null otherwise; each turn hands it out once: in a step, normally at the latest its
 * done step, else from {@link TurnGenerator#advanceCallerText} while {@link TurnGenerator#hasCallerTextPending()}).
 */
public record StepResult(String text, long tokenId, List<AudioPiece> audio, boolean done, boolean cancelled,
        CallerTranscript callerText) {

    public StepResult(String text, long tokenId, List<AudioPiece> audio, boolean done, boolean cancelled) {
        this(text, tokenId, audio, done, cancelled, null);
    }

    static StepResult finished(boolean cancelled) {
        return new StepResult("", -1, List.of(), true, cancelled, null);
    }

    StepResult withAudio(List<AudioPiece> pieces) {
        return new StepResult(text, tokenId, pieces, done, cancelled, callerText);
    }

    StepResult withCallerText(CallerTranscript transcript) {
        return new StepResult(text, tokenId, audio, done, cancelled, transcript);
    }
}
