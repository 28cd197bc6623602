package dev.omnicall.model.stream;

/**
 * What the caller said in one turn, as the Whisper decoder heard it from the turn's own encoder output; or, when
 * the decoder failed on this utterance, {@code error} (the other fields then hold what was decoded before it).
 * A turn hands it out exactly once (LLaMA-Omni's turn loop: {@link dev.omnicall.model.omni.StepResult#callerText()} or
 * {@link dev.omnicall.model.omni.TurnGenerator#advanceCallerText}).
 *
 * @param decodeStartUs when the decoder began on this utterance (epoch µs)
 * @param decodeDoneUs  when it finished (or failed)
 * @param decodeCpuUs   time spent inside the decoder's own calls: they are interleaved with the reply's steps,
 *                      so {@code decodeDoneUs - decodeStartUs} is longer
 */
public record CallerTranscript(String text, String language, int tokenCount, boolean truncated,
        long decodeStartUs, long decodeDoneUs, long decodeCpuUs, Throwable error) {

    public CallerTranscript {
        text = text == null ? "" : text;
        language = language == null ? "" : language;
    }

    public boolean failed() {
        return error != null;
    }
}
