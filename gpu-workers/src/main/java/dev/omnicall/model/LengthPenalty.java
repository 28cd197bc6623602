package dev.omnicall.model;

import java.util.Locale;

/**
 * How the caller transcriber's beam search ranks finished hypotheses of different lengths, with the semantics of
 * whisper's {@code length_penalty} decoding option: {@link #PER_TOKEN} (whisper's default, {@code None}) divides the
 * summed log-probability by the number of text tokens; {@code alpha} divides it by the Google NMT length penalty
 * {@code ((5 + length) / 6) ^ alpha}, so 0 ranks by the summed log-probability, 1 is close to per token, and a
 * negative alpha favours short hypotheses further (it counters a decoder that adds words the caller did not say).
 * Only the ranking of the hypotheses changes, not which ones the search keeps alive (they always have one length).
 */
public final class LengthPenalty {
    /** Whisper's default: log-probability per text token. */
    public static final LengthPenalty PER_TOKEN = new LengthPenalty(Double.NaN);

    private final double alpha; // NaN = per token

    private LengthPenalty(double alpha) {
        this.alpha = alpha;
    }

    /** Whisper's {@code length_penalty=alpha}; finite, -4..4 (beyond that one length wins whatever was said). */
    public static LengthPenalty alpha(double alpha) {
        if (!Double.isFinite(alpha) || alpha < -4 || alpha > 4) {
            throw new IllegalArgumentException("length penalty must be a number in -4..4 or per-token, got " + alpha);
        }
        return new LengthPenalty(alpha);
    }

    /** {@code per-token} (or {@code none}, whisper's word for it) or a number such as {@code 0} or {@code -0.5}. */
    public static LengthPenalty parse(String value) {
        String v = value == null ? "" : value.strip().toLowerCase(Locale.ROOT);
        if (v.equals("per-token") || v.equals("none")) {
            return PER_TOKEN;
        }
        try {
            return alpha(Double.parseDouble(v));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("length penalty must be per-token, none or a number such as 0 or -0.5,"
                    + " got '" + value + "'");
        }
    }

    /** The rank of a finished hypothesis: higher is better. */
    public double score(double logProb, int textTokens) {
        if (Double.isNaN(alpha)) {
            return logProb / Math.max(1, textTokens);
        }
        return logProb / Math.pow((5.0 + textTokens) / 6.0, alpha);
    }

    /** True for whisper's default (per text token). */
    public boolean isPerToken() {
        return Double.isNaN(alpha);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof LengthPenalty p && Double.compare(p.alpha, alpha) == 0;
    }

    @Override
    public int hashCode() {
        return Double.hashCode(alpha);
    }

    /** As {@link #parse} reads it: {@code per-token} or the number. */
    @Override
    public String toString() {
        return isPerToken() ? "per-token" : Double.toString(alpha);
    }
}
