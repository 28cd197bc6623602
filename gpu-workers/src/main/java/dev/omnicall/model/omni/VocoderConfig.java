package dev.omnicall.model.omni;

import com.google.gson.annotations.SerializedName;
import dev.omnicall.model.config.Json;
import java.nio.file.Path;
import java.util.List;

/**
 * The fairseq CodeHiFiGAN {@code config.json} beside the vocoder checkpoint (mHuBERT km1000, LJSpeech).
 * JSON names are fairseq's; keys this runtime does not use are ignored.
 */
public record VocoderConfig(
        @SerializedName("upsample_rates") List<Integer> upsampleRates,
        @SerializedName("upsample_kernel_sizes") List<Integer> upsampleKernelSizes,
        @SerializedName("upsample_initial_channel") int upsampleInitialChannel,
        @SerializedName("resblock") String resblock,
        @SerializedName("resblock_kernel_sizes") List<Integer> resblockKernelSizes,
        @SerializedName("resblock_dilation_sizes") List<List<Integer>> resblockDilationSizes,
        @SerializedName("model_in_dim") int modelInDim,
        @SerializedName("num_embeddings") int numEmbeddings,
        @SerializedName("embedding_dim") int embeddingDim,
        @SerializedName("code_hop_size") int codeHopSize,
        @SerializedName("sampling_rate") int samplingRate,
        @SerializedName("dur_predictor_params") DurationPredictorParams durPredictorParams) {

    public VocoderConfig {
        require(upsampleRates != null && upsampleKernelSizes != null
                && upsampleRates.size() == upsampleKernelSizes.size() && !upsampleRates.isEmpty(),
                "upsample_rates and upsample_kernel_sizes must be non-empty lists of equal length");
        long hop = 1;
        for (int i = 0; i < upsampleRates.size(); i++) {
            int u = upsampleRates.get(i);
            int k = upsampleKernelSizes.get(i);
            require(u > 0 && k >= u && (k - u) % 2 == 0, "upsample " + i + ": kernel " + k + " and rate " + u
                    + " must satisfy kernel >= rate and (kernel - rate) even (output exactly rate x input)");
            hop *= u;
        }
        require(hop == codeHopSize, "product of upsample_rates is " + hop + " but code_hop_size is " + codeHopSize);
        require(upsampleInitialChannel >> upsampleRates.size() >= 1, "upsample_initial_channel "
                + upsampleInitialChannel + " is too small to halve " + upsampleRates.size() + " times");
        require("1".equals(resblock), "resblock '" + resblock + "' is not supported (only \"1\")");
        require(resblockKernelSizes != null && resblockDilationSizes != null
                && resblockKernelSizes.size() == resblockDilationSizes.size() && !resblockKernelSizes.isEmpty(),
                "resblock_kernel_sizes and resblock_dilation_sizes must be non-empty lists of equal length");
        require(numEmbeddings > 0 && embeddingDim > 0, "num_embeddings and embedding_dim must be positive");
        if (modelInDim == 0) {
            modelInDim = embeddingDim;
        }
        require(modelInDim == embeddingDim, "model_in_dim " + modelInDim + " != embedding_dim " + embeddingDim
                + ": f0 and speaker inputs are not supported");
        require(samplingRate > 0, "sampling_rate must be positive");
        require(durPredictorParams != null, "dur_predictor_params is missing (LLaMA-Omni predicts durations)");
    }

    public static VocoderConfig read(Path file) {
        return Json.read(file, VocoderConfig.class);
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException("vocoder config: " + message);
        }
    }

    /** fairseq VariancePredictor settings. */
    public record DurationPredictorParams(
            @SerializedName("encoder_embed_dim") int encoderEmbedDim,
            @SerializedName("var_pred_hidden_dim") int varPredHiddenDim,
            @SerializedName("var_pred_kernel_size") int varPredKernelSize,
            @SerializedName("var_pred_dropout") double varPredDropout) {
        public DurationPredictorParams {
            if (encoderEmbedDim <= 0 || varPredHiddenDim <= 0 || varPredKernelSize <= 0
                    || varPredKernelSize % 2 == 0) {
                throw new IllegalArgumentException("vocoder config: dur_predictor_params needs positive dims and "
                        + "an odd kernel size");
            }
        }
    }
}
