package dev.omnicall.model.stream;

/**
 * Caller transcription inside a turn: whether to run Whisper's decoder on the encoder output the turn already
 * computed, the language ({@code null} or {@code "auto"} = detected by the decoder, else a Whisper code such as
 * {@code en}), the token cap per utterance, and how many decoder tokens each turn advances per reply step once
 * every turn of the batch has its first audio out. Defaults: on, auto, 128 tokens, 2 per step.
 */
public record TranscriptionOptions(boolean enabled, String language, int maxTokens, int tokensPerStep) {

    public TranscriptionOptions {
        if (language != null && (language.isBlank() || language.equalsIgnoreCase("auto"))) {
            language = null;
        }
        if (maxTokens < 1) {
            throw new IllegalArgumentException("transcription maxTokens must be >= 1, got " + maxTokens);
        }
        if (tokensPerStep < 1) {
            throw new IllegalArgumentException("transcription tokensPerStep must be >= 1, got " + tokensPerStep);
        }
    }

    public static TranscriptionOptions defaults() {
        return new TranscriptionOptions(true, null, 128, 2);
    }

    public static TranscriptionOptions off() {
        return new TranscriptionOptions(false, null, 128, 2);
    }

    /** The language as configured: a code, or {@code auto}. */
    public String languageOrAuto() {
        return language == null ? "auto" : language;
    }
}
