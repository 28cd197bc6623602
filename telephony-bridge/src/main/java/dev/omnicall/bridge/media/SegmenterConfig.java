package dev.omnicall.bridge.media;

/**
 * How caller audio is cut into utterances and segments.
 *
 * @param segmentMs               length of a published segment, 100..200 ms (the last one of an
 *                                utterance may be up to one VAD frame longer or shorter)
 * @param preRollMs               audio kept from before the VAD fired, so the first syllable is not clipped
 * @param endOfUtteranceSilenceMs trailing silence that ends an utterance
 * @param startThreshold          speech probability that starts an utterance
 * @param endThreshold            probability under which a frame counts as silence (hysteresis, below start)
 * @param minSpeechMs             consecutive speech needed to start an utterance (filters clicks)
 * @param maxUtteranceMs          an utterance this long is ended even without a pause
 * @param speculativeSilenceMs    trailing silence that ends an utterance tentatively (a speculative turn starts;
 *                                the full {@code endOfUtteranceSilenceMs} confirms it, speech before that cancels
 *                                it); 0 turns speculation off
 * @param adaptive                the adaptive end-of-turn wait around {@code endOfUtteranceSilenceMs}, or
 *                                {@link AdaptiveEndOfTurn#OFF} for the fixed wait
 */
public record SegmenterConfig(
        int segmentMs,
        int preRollMs,
        int endOfUtteranceSilenceMs,
        float startThreshold,
        float endThreshold,
        int minSpeechMs,
        int maxUtteranceMs,
        int speculativeSilenceMs,
        AdaptiveEndOfTurn adaptive) {

    /** Without speculative turns. */
    public SegmenterConfig(int segmentMs, int preRollMs, int endOfUtteranceSilenceMs, float startThreshold,
                           float endThreshold, int minSpeechMs, int maxUtteranceMs) {
        this(segmentMs, preRollMs, endOfUtteranceSilenceMs, startThreshold, endThreshold, minSpeechMs, maxUtteranceMs, 0);
    }

    /** With the fixed end-of-turn wait. */
    public SegmenterConfig(int segmentMs, int preRollMs, int endOfUtteranceSilenceMs, float startThreshold,
                           float endThreshold, int minSpeechMs, int maxUtteranceMs, int speculativeSilenceMs) {
        this(segmentMs, preRollMs, endOfUtteranceSilenceMs, startThreshold, endThreshold, minSpeechMs, maxUtteranceMs,
                speculativeSilenceMs, AdaptiveEndOfTurn.OFF);
    }

    public SegmenterConfig {
        if (adaptive == null) {
            throw new IllegalArgumentException("adaptive end-of-turn settings are null (AdaptiveEndOfTurn.OFF: fixed)");
        }
        if (adaptive.enabled() && (endOfUtteranceSilenceMs < adaptive.minSilenceMs()
                || endOfUtteranceSilenceMs > adaptive.maxSilenceMs())) {
            throw new IllegalArgumentException("endOfUtteranceSilenceMs " + endOfUtteranceSilenceMs + " is outside the"
                    + " adaptive end-of-turn bounds " + adaptive.minSilenceMs() + ".." + adaptive.maxSilenceMs() + " ms");
        }
        int shortestEnd = adaptive.enabled() ? adaptive.minSilenceMs() : endOfUtteranceSilenceMs;
        if (speculativeSilenceMs != 0 && (speculativeSilenceMs < 32 || speculativeSilenceMs >= shortestEnd)) {
            throw new IllegalArgumentException("speculativeSilenceMs " + speculativeSilenceMs + " must be 0 (off) or"
                    + " between 32 and the " + (adaptive.enabled() ? "shortest adaptive" : "end-of-utterance")
                    + " silence (" + shortestEnd + " ms), exclusive");
        }
        if (segmentMs < 100 || segmentMs > 200) {
            throw new IllegalArgumentException("segmentMs " + segmentMs + " is outside 100..200");
        }
        if (preRollMs < 0 || preRollMs > 2000) {
            throw new IllegalArgumentException("preRollMs " + preRollMs + " is outside 0..2000");
        }
        if (endOfUtteranceSilenceMs < 100) {
            throw new IllegalArgumentException("endOfUtteranceSilenceMs " + endOfUtteranceSilenceMs + " is under 100");
        }
        if (!(endThreshold > 0 && endThreshold <= startThreshold && startThreshold < 1)) {
            throw new IllegalArgumentException("need 0 < endThreshold <= startThreshold < 1, got "
                    + endThreshold + " and " + startThreshold);
        }
        if (minSpeechMs < 0 || maxUtteranceMs < 1000) {
            throw new IllegalArgumentException("minSpeechMs must be >= 0 and maxUtteranceMs >= 1000");
        }
    }

    /** 160 ms segments, 300 ms pre-roll, 600 ms of silence ends an utterance. */
    public static SegmenterConfig defaults() {
        return new SegmenterConfig(160, 300, 600, 0.5f, 0.35f, 64, 30_000);
    }

    public SegmenterConfig withEndOfUtteranceSilenceMs(int ms) {
        return new SegmenterConfig(segmentMs, preRollMs, ms, startThreshold, endThreshold, minSpeechMs, maxUtteranceMs,
                speculativeSilenceMs, adaptive);
    }

    /** The adaptive end-of-turn wait ({@link AdaptiveEndOfTurn#OFF}: the fixed one). */
    public SegmenterConfig withAdaptiveEndOfTurn(AdaptiveEndOfTurn a) {
        return new SegmenterConfig(segmentMs, preRollMs, endOfUtteranceSilenceMs, startThreshold, endThreshold,
                minSpeechMs, maxUtteranceMs, speculativeSilenceMs, a);
    }

    /** Speculative turns after {@code ms} of trailing silence; 0 turns them off. */
    public SegmenterConfig withSpeculativeSilenceMs(int ms) {
        return new SegmenterConfig(segmentMs, preRollMs, endOfUtteranceSilenceMs, startThreshold, endThreshold,
                minSpeechMs, maxUtteranceMs, ms, adaptive);
    }

    public boolean speculative() {
        return speculativeSilenceMs > 0;
    }

    public SegmenterConfig withSegmentMs(int ms) {
        return new SegmenterConfig(ms, preRollMs, endOfUtteranceSilenceMs, startThreshold, endThreshold, minSpeechMs,
                maxUtteranceMs, speculativeSilenceMs, adaptive);
    }
}
