package dev.omnicall.model.omni2;

/**
 * How the TTS LM picks its next token. Both modes choose only among the unit ids and the end token: the
 * reference samples at temperature 1 over the whole 158227-token vocabulary, which can pick a text id whose
 * digits its unit parser would read as units; restricting as vLLM-Omni does avoids that.
 *
 * @param seed null: greedy (the highest logit; a tie goes to the lowest id, so end beats a unit at the
 *     published layout); otherwise sampled from softmax(logits / temperature) with this seed
 * @param temperature the sampling temperature (the reference: 1.0); ignored when greedy
 */
public record TtsSampling(Long seed, double temperature) {

    public TtsSampling {
        if (seed != null && !(temperature > 0)) {
            throw new IllegalArgumentException("TTS sampling needs a positive temperature, got " + temperature);
        }
    }

    /** The default: greedy over units + end (reproducible). */
    public static TtsSampling greedy() {
        return new TtsSampling(null, 1.0);
    }

    /** The reference's temperature-1 sampling, over units + end only, seeded. */
    public static TtsSampling sampled(long seed, double temperature) {
        return new TtsSampling(seed, temperature);
    }

    public boolean isGreedy() {
        return seed == null;
    }
}
