package dev.omnicall.model.omni;

import dev.omnicall.model.LlamaModel;
import dev.omnicall.model.config.Json;
import dev.omnicall.model.config.RopeScaling;
import dev.omnicall.model.config.RopeSettings;
import dev.omnicall.model.config.SpeechBlocksConfig;
import com.google.gson.annotations.JsonAdapter;
import com.google.gson.annotations.SerializedName;
import java.nio.file.Path;
import java.util.List;

/**
 * config.json of an {@code omni_speech2s_llama} checkpoint (ICTNLP/Llama-3.1-8B-Omni). JSON names are
 * the checkpoint's own. Fields the published file may leave out take the reference code's defaults
 * here; {@code speech_encoder_num_heads}, {@code speech_encoder_num_layers} and
 * {@code speech_projector_hidden_size} are this runtime's optional additions (Whisper-large-v3 and
 * LLaMA-Omni values by default) so that tiny test checkpoints can shrink them. {@code speech_encoder}
 * (may be absent) is the reference's path of openai's Whisper file, used when the shards hold no
 * {@code model.speech_encoder.*} tensors.
 */
public record OmniConfig(
        @SerializedName("model_type") String modelType,
        @SerializedName("hidden_size") int hiddenSize,
        @SerializedName("intermediate_size") int intermediateSize,
        @SerializedName("num_attention_heads") int numAttentionHeads,
        @SerializedName("num_key_value_heads") int numKeyValueHeads,
        @SerializedName("num_hidden_layers") int numHiddenLayers,
        @SerializedName("rms_norm_eps") double rmsNormEps,
        @SerializedName("rope_theta") double ropeTheta,
        @SerializedName("rope_scaling") RopeScaling ropeScaling,
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
        @SerializedName("speech_generator_type") String speechGeneratorType,
        @SerializedName("ctc_decoder_config") String ctcDecoderConfig,
        @SerializedName("ctc_upsample_factor") int ctcUpsampleFactor,
        @SerializedName("unit_vocab_size") int unitVocabSize,
        @SerializedName("speech_encoder") String speechEncoder) {

    public static final String FILE_NAME = "config.json";

    public OmniConfig {
        // defaults of the reference code for keys a config.json may omit
        if (rmsNormEps == 0) {
            rmsNormEps = 1e-5;
        }
        if (ropeTheta == 0) {
            ropeTheta = 500000;
        }
        if (numKeyValueHeads == 0) {
            numKeyValueHeads = numAttentionHeads;
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
        if (ctcUpsampleFactor == 0) {
            ctcUpsampleFactor = 25;
        }
        if (unitVocabSize == 0) {
            unitVocabSize = 1000;
        }
        if (ctcDecoderConfig == null) {
            ctcDecoderConfig = "(2,4096,32,11008)";
        }
        if (eosTokenId == null) {
            eosTokenId = List.of();
        }
        if (maxPositionEmbeddings == 0) {
            maxPositionEmbeddings = 131072;
        }
        // checks, in words
        require(hiddenSize > 0, "hidden_size must be positive, got " + hiddenSize);
        require(intermediateSize > 0, "intermediate_size must be positive, got " + intermediateSize);
        require(numHiddenLayers > 0, "num_hidden_layers must be positive, got " + numHiddenLayers);
        require(numAttentionHeads > 0 && hiddenSize % numAttentionHeads == 0,
                "hidden_size " + hiddenSize + " is not divisible by num_attention_heads " + numAttentionHeads);
        require(numKeyValueHeads > 0 && numAttentionHeads % numKeyValueHeads == 0,
                "num_attention_heads " + numAttentionHeads + " is not a multiple of num_key_value_heads "
                        + numKeyValueHeads);
        require((hiddenSize / numAttentionHeads) % 2 == 0, "head dim " + hiddenSize / numAttentionHeads
                + " must be even for RoPE");
        require(vocabSize > 0, "vocab_size must be positive, got " + vocabSize);
        require(!eosTokenId.isEmpty(), "eos_token_id is missing");
        for (int eos : eosTokenId) {
            require(eos >= 0 && eos < vocabSize, "eos_token_id " + eos + " is outside vocab_size " + vocabSize);
        }
        require(speechEncoderHiddenSize % speechEncoderNumHeads == 0, "speech_encoder_hidden_size "
                + speechEncoderHiddenSize + " is not divisible by speech_encoder_num_heads " + speechEncoderNumHeads);
        require(speechProjectorType == null || speechProjectorType.equals("linear"),
                "speech_projector_type '" + speechProjectorType + "' is not supported (only 'linear')");
        require(speechGeneratorType == null || speechGeneratorType.equals("ctc"),
                "speech_generator_type '" + speechGeneratorType + "' is not supported (only 'ctc')");
        require(unitVocabSize > 0, "unit_vocab_size must be positive, got " + unitVocabSize);
        CtcDecoderSpec.parse(ctcDecoderConfig);
    }

    public static OmniConfig read(Path checkpointDir) {
        return Json.read(checkpointDir.resolve(FILE_NAME), OmniConfig.class);
    }

    /** Without {@code speech_encoder}: the encoder is in the shards. */
    public OmniConfig(String modelType, int hiddenSize, int intermediateSize, int numAttentionHeads,
            int numKeyValueHeads, int numHiddenLayers, double rmsNormEps, double ropeTheta, RopeScaling ropeScaling,
            int vocabSize, int maxPositionEmbeddings, int bosTokenId, List<Integer> eosTokenId,
            boolean tieWordEmbeddings, String torchDtype, String speechEncoderType, int speechEncoderDsRate,
            int speechEncoderHiddenSize, int speechEncoderNumHeads, int speechEncoderNumLayers,
            String speechProjectorType, int speechProjectorHiddenSize, String speechGeneratorType,
            String ctcDecoderConfig, int ctcUpsampleFactor, int unitVocabSize) {
        this(modelType, hiddenSize, intermediateSize, numAttentionHeads, numKeyValueHeads, numHiddenLayers,
                rmsNormEps, ropeTheta, ropeScaling, vocabSize, maxPositionEmbeddings, bosTokenId, eosTokenId,
                tieWordEmbeddings, torchDtype, speechEncoderType, speechEncoderDsRate, speechEncoderHiddenSize,
                speechEncoderNumHeads, speechEncoderNumLayers, speechProjectorType, speechProjectorHiddenSize,
                speechGeneratorType, ctcDecoderConfig, ctcUpsampleFactor, unitVocabSize, null);
    }

    /** The same config naming another Whisper file (null: none). */
    public OmniConfig withSpeechEncoder(String path) {
        return new OmniConfig(modelType, hiddenSize, intermediateSize, numAttentionHeads, numKeyValueHeads,
                numHiddenLayers, rmsNormEps, ropeTheta, ropeScaling, vocabSize, maxPositionEmbeddings, bosTokenId,
                eosTokenId, tieWordEmbeddings, torchDtype, speechEncoderType, speechEncoderDsRate,
                speechEncoderHiddenSize, speechEncoderNumHeads, speechEncoderNumLayers, speechProjectorType,
                speechProjectorHiddenSize, speechGeneratorType, ctcDecoderConfig, ctcUpsampleFactor, unitVocabSize,
                path);
    }

    /**
     * The same config with a Whisper encoder of another shape (a benchmark at a published encoder's size with random
     * weights, e.g. large-v3's 1280 wide, 32 blocks, 20 heads).
     */
    public OmniConfig withSpeechEncoderShape(int hiddenSize, int numLayers, int numHeads) {
        return new OmniConfig(modelType, this.hiddenSize, intermediateSize, numAttentionHeads, numKeyValueHeads,
                numHiddenLayers, rmsNormEps, ropeTheta, ropeScaling, vocabSize, maxPositionEmbeddings, bosTokenId,
                eosTokenId, tieWordEmbeddings, torchDtype, speechEncoderType, speechEncoderDsRate, hiddenSize, numHeads,
                numLayers, speechProjectorType, speechProjectorHiddenSize, speechGeneratorType, ctcDecoderConfig,
                ctcUpsampleFactor, unitVocabSize, speechEncoder);
    }

    public int headDim() {
        return hiddenSize / numAttentionHeads;
    }

    public CtcDecoderSpec ctcDecoder() {
        return CtcDecoderSpec.parse(ctcDecoderConfig);
    }

    /** Blank is the class after the last unit. */
    public int ctcBlank() {
        return unitVocabSize;
    }

    /** LLaMA-Omni's Llama-3.1: config.json's sizes, no biases, llama3 RoPE scaling when configured. */
    public LlamaModel.Spec llmSpec() {
        return new LlamaModel.Spec("", hiddenSize, intermediateSize, numAttentionHeads, numKeyValueHeads,
                numHiddenLayers, rmsNormEps, rope(), vocabSize, tieWordEmbeddings, false);
    }

    /** The fields the shared speech blocks read (Whisper encoder, adaptor, the Whisper file and its dims check). */
    public SpeechBlocksConfig speechBlocks() {
        return new SpeechBlocksConfig(speechEncoderHiddenSize, speechEncoderNumHeads, speechEncoderNumLayers,
                speechEncoderDsRate, speechProjectorHiddenSize, hiddenSize, speechEncoder);
    }

    /** The llama3 rope settings that both the LLM and the CTC decoder use. */
    public RopeSettings rope() {
        return new RopeSettings(ropeTheta, ropeScaling);
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException("config.json: " + message);
        }
    }

    /** {@code "(layers,dim,heads,ffn)"} of {@code ctc_decoder_config}. */
    public record CtcDecoderSpec(int layers, int dim, int heads, int ffn) {
        public CtcDecoderSpec {
            if (layers <= 0 || dim <= 0 || heads <= 0 || ffn <= 0 || dim % heads != 0 || (dim / heads) % 2 != 0) {
                throw new IllegalArgumentException("config.json: ctc_decoder_config (" + layers + "," + dim + ","
                        + heads + "," + ffn + ") needs positive values and an even head dim");
            }
        }

        public static CtcDecoderSpec parse(String text) {
            String inner = text.trim().replaceAll("^[(\\[]|[)\\]]$", "");
            String[] parts = inner.split(",");
            if (parts.length != 4) {
                throw new IllegalArgumentException("config.json: ctc_decoder_config '" + text
                        + "' is not '(layers,dim,heads,ffn)'");
            }
            try {
                return new CtcDecoderSpec(Integer.parseInt(parts[0].trim()), Integer.parseInt(parts[1].trim()),
                        Integer.parseInt(parts[2].trim()), Integer.parseInt(parts[3].trim()));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("config.json: ctc_decoder_config '" + text
                        + "' has a part that is not an integer");
            }
        }

        public int headDim() {
            return dim / heads;
        }

        public String text() {
            return "(" + layers + "," + dim + "," + heads + "," + ffn + ")";
        }
    }
}
