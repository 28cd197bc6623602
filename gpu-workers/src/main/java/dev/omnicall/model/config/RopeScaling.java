package dev.omnicall.model.config;

import com.google.gson.annotations.SerializedName;

/** {@code rope_scaling} of config.json; only the llama3 rule is known to this runtime. */
public record RopeScaling(
        @SerializedName("rope_type") String ropeType,
        @SerializedName("factor") double factor,
        @SerializedName("low_freq_factor") double lowFreqFactor,
        @SerializedName("high_freq_factor") double highFreqFactor,
        @SerializedName("original_max_position_embeddings") int originalMaxPositionEmbeddings) {

    public RopeScaling {
        if (!"llama3".equals(ropeType)) {
            throw new IllegalArgumentException("rope_scaling.rope_type is '" + ropeType
                    + "'; only 'llama3' is supported");
        }
        if (factor < 1 || lowFreqFactor <= 0 || highFreqFactor <= lowFreqFactor) {
            throw new IllegalArgumentException("rope_scaling needs factor >= 1 and 0 < low_freq_factor < "
                    + "high_freq_factor, got factor " + factor + ", low " + lowFreqFactor + ", high " + highFreqFactor);
        }
        if (originalMaxPositionEmbeddings <= 0) {
            throw new IllegalArgumentException("rope_scaling.original_max_position_embeddings must be positive");
        }
    }

    public static RopeScaling llama3(double factor, double low, double high, int originalMax) {
        return new RopeScaling("llama3", factor, low, high, originalMax);
    }
}
