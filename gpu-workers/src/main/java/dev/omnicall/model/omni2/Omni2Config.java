package dev.omnicall.model.omni2;

import com.google.gson.JsonElement;
import com.google.gson.annotations.JsonAdapter;
import com.google.gson.annotations.SerializedName;
import dev.omnicall.model.LlamaModel;
import dev.omnicall.model.ModelFamily;
import dev.omnicall.model.config.Json;
import dev.omnicall.model.config.SpeechBlocksConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * config.json of an {@code omni2_speech2s_qwen2} checkpoint (ICTNLP/LLaMA-Omni2-*; CHECKPOINT-OMNI2.md
 * "config.json"): a Qwen2Config for the LLM, the speech encoder and projector fields LLaMA-Omni also has,
 * {@code stream_params} "(R,W)", {@code unit_vocab_size} and the {@code speech_generator} object (the TTS LM's
 * Qwen2Config, {@link SpeechGeneratorConfig}). JSON names are the checkpoint's. Keys a file may omit take the
 * reference code's defaults (Qwen2Config: eps 1e-6, theta 10000, KV heads = heads; stream_params (1,1) and
 * unit_vocab_size 4096 as omni2_speech2s_qwen2.py); {@code speech_encoder_num_heads}/{@code _num_layers} and
 * {@code speech_projector_hidden_size} are this runtime's optional additions (Whisper-large-v3 and 2048 by
 * default) so tiny checkpoints can shrink them, as in LLaMA-Omni's {@code OmniConfig}.
 */
public record Omni2Config(
        @SerializedName("model_type") String modelType,
        @SerializedName("hidden_size") int hiddenSize,
        @SerializedName("intermediate_size") int intermediateSize,
        @SerializedName("num_attention_heads") int numAttentionHeads,
        @SerializedName("num_key_value_heads") int numKeyValueHeads,
        @SerializedName("num_hidden_layers") int numHiddenLayers,
        @SerializedName("rms_norm_eps") double rmsNormEps,
        @SerializedName("rope_theta") double ropeTheta,
        @SerializedName("rope_scaling") JsonElement ropeScaling,
        @SerializedName("use_sliding_window") boolean useSlidingWindow,
        @SerializedName("vocab_size") int vocabSize,
        @SerializedName("max_position_embeddings") int maxPositionEmbeddings,
        @SerializedName("bos_token_id") int bosTokenId,
        @SerializedName("eos_token_id") @JsonAdapter(Json.IntOrList.class) List<Integer> eosTokenId,
        @SerializedName("tie_word_embeddings") boolean tieWordEmbeddings,
        @SerializedName("torch_dtype") String torchDtype,
        @SerializedName("speech_encoder_type") String speechEncoderType,
        @SerializedName("speech_encoder_ds_rate") int speechEncoderDsRate,
        @SerializedName("speech_encoder_hidden_size") int speechEncoderHiddenSize,
        @SerializedName("speech_encoder_num_heads") int speechEncoderNumHeads,
        @SerializedName("speech_encoder_num_layers") int speechEncoderNumLayers,
        @SerializedName("speech_projector_type") String speechProjectorType,
        @SerializedName("speech_projector_hidden_size") int speechProjectorHiddenSize,
        @SerializedName("unit_vocab_size") int unitVocabSize,
        @SerializedName("stream_params") String streamParams,
        @SerializedName("speech_encoder") String speechEncoder,
        @SerializedName("speech_generator") SpeechGeneratorConfig speechGenerator) {

    public static final String FILE_NAME = "config.json";
    /** The reference's cap on the TTS LM's tokens after the text has ended. */
    public static final int FINAL_TTS_CAP = 1024;

    public Omni2Config {
        // defaults of Qwen2Config and omni2_speech2s_qwen2.py for keys a config.json may omit
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
        if (speechEncoderDsRate == 0) {
            speechEncoderDsRate = 5;
        }
        if (speechEncoderHiddenSize == 0) {
            speechEncoderHiddenSize = 1280;
        }
        if (speechEncoderNumHeads == 0) {
            speechEncoderNumHeads = Math.max(1, speechEncoderHiddenSize / 64);
        }
        if (speechEncoderNumLayers == 0) {
            speechEncoderNumLayers = 32;
        }
        if (speechProjectorHiddenSize == 0) {
            speechProjectorHiddenSize = 2048;
        }
        if (unitVocabSize == 0) {
            unitVocabSize = 4096;
        }
        eosTokenId = eosTokenId == null ? List.of() : List.copyOf(eosTokenId);
        // checks, in words
        require(ModelFamily.LLAMA_OMNI2.modelType().equals(modelType), ModelFamily.FIELD + " '" + modelType
                + "' is not '" + ModelFamily.LLAMA_OMNI2.modelType() + "'");
        require(ropeScaling == null || ropeScaling.isJsonNull(), "rope_scaling " + ropeScaling
                + " is not supported for the Qwen2 LLM (no scaling only)");
        require(!useSlidingWindow, "use_sliding_window true is not supported");
        require(!eosTokenId.isEmpty(), "eos_token_id is missing");
        for (int eos : eosTokenId) {
            require(eos >= 0 && eos < vocabSize, "eos_token_id " + eos + " is outside vocab_size " + vocabSize);
        }
        require(speechEncoderType == null || speechEncoderType.equals("whisper"),
                "speech_encoder_type '" + speechEncoderType + "' is not supported (only 'whisper')");
        require(speechProjectorType == null || speechProjectorType.equals("linear"),
                "speech_projector_type '" + speechProjectorType + "' is not supported (only 'linear')");
        require(speechEncoderHiddenSize % speechEncoderNumHeads == 0, "speech_encoder_hidden_size "
                + speechEncoderHiddenSize + " is not divisible by speech_encoder_num_heads " + speechEncoderNumHeads);
        require(unitVocabSize > 0, "unit_vocab_size must be positive, got " + unitVocabSize);
        require(speechGenerator != null, "the speech_generator object is missing");
        try {
            llmSpec(hiddenSize, intermediateSize, numAttentionHeads, numKeyValueHeads, numHiddenLayers, rmsNormEps,
                    ropeTheta, vocabSize, tieWordEmbeddings);
            TtsSchedule.parseStreamParams(streamParams, FINAL_TTS_CAP);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("config.json: " + e.getMessage(), e);
        }
    }

    /** Reads {@code dir/config.json}; what is wrong comes back in words, with the file's path. */
    public static Omni2Config read(Path checkpointDir) {
        Path file = checkpointDir.resolve(FILE_NAME);
        try {
            return parse(Files.readString(file));
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read " + file + ": " + e.getMessage(), e);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
        }
    }

    /** A config.json text. */
    public static Omni2Config parse(String json) {
        try {
            Omni2Config c = Json.parse(json, Omni2Config.class);
            if (c == null) {
                throw new IllegalArgumentException("config.json is empty");
            }
            return c;
        } catch (RuntimeException e) {
            // Gson wraps the compact constructors' messages; hand on the words
            for (Throwable t = e; t != null; t = t.getCause()) {
                if (t instanceof IllegalArgumentException words) {
                    throw words;
                }
            }
            throw new IllegalArgumentException("config.json: " + e.getMessage(), e);
        }
    }

    /** The shared transformer's Qwen2 variation for the LLM: {@code model.*}, q/k/v biases, tied when configured. */
    public LlamaModel.Spec llmSpec() {
        return llmSpec(hiddenSize, intermediateSize, numAttentionHeads, numKeyValueHeads, numHiddenLayers, rmsNormEps,
                ropeTheta, vocabSize, tieWordEmbeddings);
    }

    private static LlamaModel.Spec llmSpec(int hidden, int ffn, int heads, int kvHeads, int layers, double eps,
            double theta, int vocab, boolean tied) {
        return LlamaModel.Spec.qwen2("", hidden, ffn, heads, kvHeads, layers, eps, theta, vocab, tied);
    }

    /** The fields the shared speech blocks read (Whisper encoder, adaptor, the Whisper file and its dims check). */
    public SpeechBlocksConfig speechBlocks() {
        return new SpeechBlocksConfig(speechEncoderHiddenSize, speechEncoderNumHeads, speechEncoderNumLayers,
                speechEncoderDsRate, speechProjectorHiddenSize, hiddenSize, speechEncoder);
    }

    /** The read/write schedule of {@code stream_params} with the final write capped at {@code finalCap}. */
    public TtsSchedule schedule(int finalCap) {
        return TtsSchedule.parseStreamParams(streamParams, finalCap);
    }

    /**
     * The TTS vocabulary after the published rule: the last {@code unit_vocab_size} ids are the units,
     * {@code <sep>} the id before them, the end the speech generator's first eos.
     */
    public TtsVocabulary ttsVocabulary() {
        List<Integer> eos = speechGenerator.eosTokenId();
        require(!eos.isEmpty(), "speech_generator.eos_token_id is missing (the TTS LM's end token)");
        return TtsVocabulary.fromLayout(speechGenerator.vocabSize(), unitVocabSize, eos.get(0));
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException("config.json: " + message);
        }
    }
}
