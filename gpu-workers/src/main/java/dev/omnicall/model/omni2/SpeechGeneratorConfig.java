package dev.omnicall.model.omni2;

import com.google.gson.JsonElement;
import com.google.gson.annotations.JsonAdapter;
import com.google.gson.annotations.SerializedName;
import dev.omnicall.model.LlamaModel;
import dev.omnicall.model.config.Json;
import java.util.List;

/**
 * The {@code speech_generator} object of an {@code omni2_speech2s_qwen2} config.json: a Hugging Face
 * {@code Qwen2Config} for LLaMA-Omni2's TTS language model (published: Qwen2.5-0.5B's shape, hidden 896, 24
 * layers, 14/2 heads, FFN 4864, vocab 158227, tied, rope 1e6, eps 1e-6, eos 151643). JSON names are
 * Qwen2Config's; keys a file may omit take Qwen2Config's defaults (eps 1e-6, theta 10000, KV heads = heads,
 * untied). What this runtime cannot run is refused in words: RoPE scaling, a sliding window, an activation
 * other than SiLU.
 */
public record SpeechGeneratorConfig(
        @SerializedName("hidden_size") int hiddenSize,
        @SerializedName("intermediate_size") int intermediateSize,
        @SerializedName("num_attention_heads") int numAttentionHeads,
        @SerializedName("num_key_value_heads") int numKeyValueHeads,
        @SerializedName("num_hidden_layers") int numHiddenLayers,
        @SerializedName("rms_norm_eps") double rmsNormEps,
        @SerializedName("rope_theta") double ropeTheta,
        @SerializedName("rope_scaling") JsonElement ropeScaling,
        @SerializedName("use_sliding_window") boolean useSlidingWindow,
        @SerializedName("hidden_act") String hiddenAct,
        @SerializedName("vocab_size") int vocabSize,
        @SerializedName("max_position_embeddings") int maxPositionEmbeddings,
        @SerializedName("tie_word_embeddings") boolean tieWordEmbeddings,
        @SerializedName("eos_token_id") @JsonAdapter(Json.IntOrList.class) List<Integer> eosTokenId) {

    /** Where the TTS LM's tensors sit in the LLM's shards. */
    public static final String TENSOR_PREFIX = "speech_generator.model.";

    public SpeechGeneratorConfig {
        // Qwen2Config's defaults for keys a file may omit
        if (rmsNormEps == 0) {
            rmsNormEps = 1e-6;
        }
        if (ropeTheta == 0) {
            ropeTheta = 10000;
        }
        if (numKeyValueHeads == 0) {
            numKeyValueHeads = numAttentionHeads;
        }
        if (maxPositionEmbeddings == 0) {
            maxPositionEmbeddings = 32768;
        }
        if (hiddenAct == null) {
            hiddenAct = "silu";
        }
        eosTokenId = eosTokenId == null ? List.of() : List.copyOf(eosTokenId);
        // checks, in words
        require(ropeScaling == null || ropeScaling.isJsonNull(),
                "rope_scaling " + ropeScaling + " is not supported for the TTS LM (Qwen2 without scaling only)");
        require(!useSlidingWindow, "use_sliding_window true is not supported");
        require(hiddenAct.equals("silu"), "hidden_act '" + hiddenAct + "' is not supported (only 'silu')");
        for (int eos : eosTokenId) {
            require(eos >= 0 && eos < vocabSize, "eos_token_id " + eos + " is outside vocab_size " + vocabSize);
        }
        try {
            spec(hiddenSize, intermediateSize, numAttentionHeads, numKeyValueHeads, numHiddenLayers, rmsNormEps,
                    ropeTheta, vocabSize, tieWordEmbeddings);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("config.json speech_generator: " + e.getMessage(), e);
        }
    }

    /** A config from sizes alone (tests, benchmarks); theta and eps as given, SiLU, no scaling. */
    public static SpeechGeneratorConfig of(int hiddenSize, int intermediateSize, int heads, int kvHeads, int layers,
            double rmsNormEps, double ropeTheta, int vocabSize, boolean tied, int eosTokenId) {
        return new SpeechGeneratorConfig(hiddenSize, intermediateSize, heads, kvHeads, layers, rmsNormEps, ropeTheta,
                null, false, "silu", vocabSize, 0, tied, List.of(eosTokenId));
    }

    /** Reads the {@code speech_generator} object of a config.json text. */
    public static SpeechGeneratorConfig fromConfigJson(String configJson) {
        com.google.gson.JsonObject root = Json.parse(configJson, com.google.gson.JsonObject.class);
        JsonElement sg = root.get("speech_generator");
        require(sg != null && sg.isJsonObject(), "the speech_generator object is missing");
        try {
            return Json.parse(sg.toString(), SpeechGeneratorConfig.class);
        } catch (RuntimeException e) {
            // Gson wraps the compact constructor's message; hand on the words
            if (e.getCause() instanceof IllegalArgumentException words) {
                throw words;
            }
            throw e;
        }
    }

    /** The shared transformer's Qwen2 variation under {@link #TENSOR_PREFIX}. */
    public LlamaModel.Spec spec() {
        return spec(hiddenSize, intermediateSize, numAttentionHeads, numKeyValueHeads, numHiddenLayers, rmsNormEps,
                ropeTheta, vocabSize, tieWordEmbeddings);
    }

    private static LlamaModel.Spec spec(int hidden, int ffn, int heads, int kvHeads, int layers, double eps,
            double theta, int vocab, boolean tied) {
        return LlamaModel.Spec.qwen2(TENSOR_PREFIX, hidden, ffn, heads, kvHeads, layers, eps, theta, vocab, tied);
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException("config.json speech_generator: " + message);
        }
    }
}
