package dev.omnicall.model.stream;

import dev.omnicall.model.LengthPenalty;
import java.time.Duration;

/**
 * Caller transcription inside a turn: whether to run Whisper's decoder on the encoder output the turn already
 * computed, the language ({@code null} or {@code "auto"} = detected by the decoder, else a Whisper code such as
 * {@code en}), the token cap per utterance, and how many decoder tokens each turn advances per reply step once
 * every turn of the batch has its first audio out, and the delay bound the worker's scheduler keeps for every
 * transcript ({@code maxDelay}: from the worker reading the turn's request to its caller text handed to the producer;
 * the model itself does not use it), and the hypotheses the decoder's beam search keeps ({@code beams}; 1 = greedy;
 * each decoder token then costs up to that many decoder positions), and how it ranks finished hypotheses of different
 * lengths ({@code lengthPenalty}, whisper's option). Defaults: on, auto, 128 tokens, 2 per step, 4 s, 1 beam, per token
 * (whisper's).
 */
public record TranscriptionOptions(boolean enabled, String language, int maxTokens, int tokensPerStep, Duration maxDelay,
        int beams, LengthPenalty lengthPenalty) {

    /** Default delay bound: under a turn's reply (so the next turn's history carries the text), over its first audio. */
    public static final Duration DEFAULT_MAX_DELAY = Duration.ofSeconds(4);

    /** With the default delay bound ({@link #DEFAULT_MAX_DELAY}), greedy. */
    public TranscriptionOptions(boolean enabled, String language, int maxTokens, int tokensPerStep) {
        this(enabled, language, maxTokens, tokensPerStep, DEFAULT_MAX_DELAY);
    }

    /** Greedy (one beam). */
    public TranscriptionOptions(boolean enabled, String language, int maxTokens, int tokensPerStep, Duration maxDelay) {
        this(enabled, language, maxTokens, tokensPerStep, maxDelay, 1);
    }

    /** Finished hypotheses ranked per token (whisper's default). */
    public TranscriptionOptions(boolean enabled, String language, int maxTokens, int tokensPerStep, Duration maxDelay,
            int beams) {
        this(enabled, language, maxTokens, tokensPerStep, maxDelay, beams, LengthPenalty.PER_TOKEN);
    }

    public TranscriptionOptions {
        if (maxDelay == null || maxDelay.isNegative() || maxDelay.isZero()) {
            throw new IllegalArgumentException("transcription maxDelay must be > 0, got " + maxDelay);
        }
        if (language != null && (language.isBlank() || language.equalsIgnoreCase("auto"))) {
            language = null;
        }
        if (maxTokens < 1) {
            throw new IllegalArgumentException("transcription maxTokens must be >= 1, got " + maxTokens);
        }
        if (tokensPerStep < 1) {
            throw new IllegalArgumentException("transcription tokensPerStep must be >= 1, got " + tokensPerStep);
        }
        if (beams < 1 || beams > 32) {
            throw new IllegalArgumentException("transcription beams must be 1..32, got " + beams);
        }
        if (lengthPenalty == null) {
            throw new IllegalArgumentException("transcription lengthPenalty is null (LengthPenalty.PER_TOKEN: whisper's)");
        }
    }

    public static TranscriptionOptions defaults() {
        return new TranscriptionOptions(true, null, 128, 2);
    }

    public static TranscriptionOptions off() {
        return new TranscriptionOptions(false, null, 128, 2);
    }

    /** The same options with another delay bound. */
    public TranscriptionOptions withMaxDelay(Duration d) {
        return new TranscriptionOptions(enabled, language, maxTokens, tokensPerStep, d, beams, lengthPenalty);
    }

    /** The same options with another beam count. */
    public TranscriptionOptions withBeams(int b) {
        return new TranscriptionOptions(enabled, language, maxTokens, tokensPerStep, maxDelay, b, lengthPenalty);
    }

    /** The same options with another ranking of the finished hypotheses. */
    public TranscriptionOptions withLengthPenalty(LengthPenalty p) {
        return new TranscriptionOptions(enabled, language, maxTokens, tokensPerStep, maxDelay, beams, p);
    }

    /** The language as configured: a code, or {@code auto}. */
    public String languageOrAuto() {
        return language == null ? "auto" : language;
    }
}
