package dev.omnicall.model.stream;

import ai.djl.ndarray.NDArray;
import dev.omnicall.model.LengthPenalty;
import dev.omnicall.model.Transcriber;
import dev.omnicall.model.Transcription;

/**
 * Where a turn's caller transcription comes from: the model's Whisper decoder in production
 (adapted in the worker's engine), a wrapper around it in tests that must make one utterance fail.
 */
public interface CallerDecoder {

    /**
     * Begins decoding one utterance.
     *
     * @param encoderOut [frames, n_audio_state]: the Whisper encoder output the turn already computed
     * @param language   a Whisper language code, or null to detect it
     * @param maxTokens  the token cap
     */
    Run start(NDArray encoderOut, String language, int maxTokens);

    /** One utterance being decoded, one token per {@link #step()}. */
    interface Run extends AutoCloseable {
        /** Decodes one more token; returns {@link #isDone()}. */
        boolean step();

        boolean isDone();

        String text();

        String language();

        int tokenCount();

        boolean truncated();

        @Override
        void close();
    }

    /** The model's own transcriber ({@code OmniModel.transcriber()}), greedy. */
    static CallerDecoder of(Transcriber transcriber) {
        return of(transcriber, 1);
    }

    /** The model's own transcriber, searching {@code beams} hypotheses (1 = greedy), ranked per token (whisper's). */
    static CallerDecoder of(Transcriber transcriber, int beams) {
        return of(transcriber, beams, LengthPenalty.PER_TOKEN);
    }

    /** The model's own transcriber, searching {@code beams} hypotheses, the finished ones ranked by the penalty. */
    static CallerDecoder of(Transcriber transcriber, int beams, LengthPenalty lengthPenalty) {
        return (encoderOut, language, maxTokens) -> {
            Transcription t = transcriber.start(encoderOut, language, maxTokens, beams, lengthPenalty);
            return new Run() {
                @Override public boolean step() { return t.step(); }
                @Override public boolean isDone() { return t.isDone(); }
                @Override public String text() { return t.text(); }
                @Override public String language() { return t.language(); }
                @Override public int tokenCount() { return t.tokenCount(); }
                @Override public boolean truncated() { return t.truncated(); }
                @Override public void close() { t.close(); }
            };
        };
    }
}
