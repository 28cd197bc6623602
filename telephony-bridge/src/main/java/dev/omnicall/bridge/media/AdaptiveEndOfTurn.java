package dev.omnicall.bridge.media;

/**
 * The adaptive end-of-turn wait: the trailing silence that ends an utterance moves per call between
 * {@code minSilenceMs} and {@code maxSilenceMs} around the segmenter's {@code endOfUtteranceSilenceMs}, from what
 * the bridge already hears ({@link EndOfTurnEstimator} says how). Off: the fixed {@code endOfUtteranceSilenceMs},
 * exactly as without it.
 *
 * @param enabled      adapt the wait; false: the fixed wait
 * @param minSilenceMs the shortest wait, after a clearly finished phrase (falling pitch at the end)
 * @param maxSilenceMs the longest wait, after DTMF or a voice held level to the end (a filled pause), or in a call
 *                     whose caller pauses and goes on
 */
public record AdaptiveEndOfTurn(boolean enabled, int minSilenceMs, int maxSilenceMs) {

    /** The fixed wait. */
    public static final AdaptiveEndOfTurn OFF = new AdaptiveEndOfTurn(false, 0, 0);

    public AdaptiveEndOfTurn {
        if (enabled && (minSilenceMs < 100 || maxSilenceMs > 10_000 || minSilenceMs > maxSilenceMs)) {
            throw new IllegalArgumentException("adaptive end-of-turn bounds " + minSilenceMs + ".." + maxSilenceMs
                    + " ms: need 100 <= min <= max <= 10000");
        }
    }

    /** Adapts between {@code minSilenceMs} and {@code maxSilenceMs}. */
    public static AdaptiveEndOfTurn between(int minSilenceMs, int maxSilenceMs) {
        return new AdaptiveEndOfTurn(true, minSilenceMs, maxSilenceMs);
    }
}
