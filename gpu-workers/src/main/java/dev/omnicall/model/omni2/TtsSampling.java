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

    /**
     * A setting's text: {@code greedy}, or {@code sampled:SEED} / {@code sampled:SEED:TEMPERATURE} (temperature 1,
     * the reference's, when absent). Anything else is one error saying the accepted forms.
     */
    public static TtsSampling parse(String text) {
        String t = text == null ? "" : text.strip();
        if (t.equals("greedy")) {
            return greedy();
        }
        String[] parts = t.split(":");
        if (parts[0].equals("sampled") && (parts.length == 2 || parts.length == 3)) {
            try {
                long seed = Long.parseLong(parts[1].strip());
                double temperature = parts.length == 3 ? Double.parseDouble(parts[2].strip()) : 1.0;
                return sampled(seed, temperature);
            } catch (IllegalArgumentException e) {
                // not numbers, or not a positive temperature: the words below
            }
        }
        throw new IllegalArgumentException("TTS sampling '" + text + "' is not 'greedy', 'sampled:SEED' or"
                + " 'sampled:SEED:TEMPERATURE' (a positive temperature)");
    }

    @Override
    public String toString() {
        return isGreedy() ? "greedy" : "sampled:" + seed + ":" + temperature;
    }

    public boolean isGreedy() {
        return seed == null;
    }
}
