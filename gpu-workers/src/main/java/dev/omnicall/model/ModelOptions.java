package dev.omnicall.model;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;

/**
 * How to run a checkpoint: device ({@code cpu} or {@code gpu:N}), compute type ({@code float32} or
 * {@code float16}; null picks float32 on CPU and float16 on GPU), the log-mel input length (30 s as the
 * reference, or 0 for the audio's own length: the latency option), where the vocoder files are,
 * {@code speechEncoder}: openai's Whisper file (e.g. {@code large-v3.pt}) to use when the shards hold no
 * {@code model.speech_encoder.*} tensors, overriding config.json's {@code speech_encoder} (null: use that),
 * {@code transcriberVocabulary}: the Whisper tiktoken vocabulary ({@code multilingual.tiktoken}) overriding
 * config.json's {@code speech_tokenizer} (null: use that, else the default beside the Whisper file), and
 * {@code transcriber}: false switches the caller transcriber off (the decoder is then not even read).
 * Paths are relative to the checkpoint directory unless absolute.
 */
public record ModelOptions(String device, String computeType, double paddedSeconds, String vocoderCheckpoint,
        String vocoderConfig, String speechEncoder, String transcriberVocabulary, boolean transcriber) {

    public static final String DEFAULT_VOCODER = "vocoder/g_00500000";
    public static final String DEFAULT_VOCODER_CONFIG = "vocoder/config.json";

    public ModelOptions {
        if (device == null || device.isBlank()) {
            device = "cpu";
        }
        parseDevice(device);
        if (computeType != null && !computeType.equals("float32") && !computeType.equals("float16")) {
            throw new IllegalArgumentException("computeType must be float32 or float16, got " + computeType);
        }
        if (paddedSeconds < 0 || paddedSeconds > 30) {
            throw new IllegalArgumentException("paddedSeconds must be in [0, 30] (0 = input length), got "
                    + paddedSeconds);
        }
        if (vocoderCheckpoint == null) {
            vocoderCheckpoint = DEFAULT_VOCODER;
        }
        if (vocoderConfig == null) {
            vocoderConfig = DEFAULT_VOCODER_CONFIG;
        }
        if (speechEncoder != null && speechEncoder.isBlank()) {
            speechEncoder = null;
        }
        if (transcriberVocabulary != null && transcriberVocabulary.isBlank()) {
            transcriberVocabulary = null;
        }
    }

    /** With the transcriber on and config.json's vocabulary. */
    public ModelOptions(String device, String computeType, double paddedSeconds, String vocoderCheckpoint,
            String vocoderConfig, String speechEncoder) {
        this(device, computeType, paddedSeconds, vocoderCheckpoint, vocoderConfig, speechEncoder, null, true);
    }

    /** Without a speech encoder override: config.json's {@code speech_encoder} applies. */
    public ModelOptions(String device, String computeType, double paddedSeconds, String vocoderCheckpoint,
            String vocoderConfig) {
        this(device, computeType, paddedSeconds, vocoderCheckpoint, vocoderConfig, null, null, true);
    }

    /** CPU, float32, 30 s padding: the reference behaviour. */
    public static ModelOptions defaults() {
        return new ModelOptions("cpu", null, 30, null, null, null, null, true);
    }

    public ModelOptions withPaddedSeconds(double seconds) {
        return new ModelOptions(device, computeType, seconds, vocoderCheckpoint, vocoderConfig, speechEncoder,
                transcriberVocabulary, transcriber);
    }

    public ModelOptions withDevice(String newDevice) {
        return new ModelOptions(newDevice, computeType, paddedSeconds, vocoderCheckpoint, vocoderConfig, speechEncoder,
                transcriberVocabulary, transcriber);
    }

    /** float32 or float16; null: float32 on CPU, float16 on a GPU. */
    public ModelOptions withComputeType(String type) {
        return new ModelOptions(device, type, paddedSeconds, vocoderCheckpoint, vocoderConfig, speechEncoder,
                transcriberVocabulary, transcriber);
    }

    /** openai's Whisper file (relative to the checkpoint dir unless absolute); null or blank: config.json's. */
    public ModelOptions withSpeechEncoder(String path) {
        return new ModelOptions(device, computeType, paddedSeconds, vocoderCheckpoint, vocoderConfig,
                path == null || path.isBlank() ? null : path, transcriberVocabulary, transcriber);
    }

    /**
     * The Whisper tiktoken vocabulary ({@code multilingual.tiktoken}; relative to the checkpoint dir unless
     * absolute); null or blank: config.json {@code speech_tokenizer}, else the default location.
     */
    public ModelOptions withTranscriberVocabulary(String path) {
        return new ModelOptions(device, computeType, paddedSeconds, vocoderCheckpoint, vocoderConfig, speechEncoder,
                path, transcriber);
    }

    /** false: no transcriber even when the checkpoint has a Whisper decoder (its weights are not read). */
    public ModelOptions withTranscriber(boolean on) {
        return new ModelOptions(device, computeType, paddedSeconds, vocoderCheckpoint, vocoderConfig, speechEncoder,
                transcriberVocabulary, on);
    }

    public Device djlDevice() {
        return parseDevice(device);
    }

    public DataType dataType() {
        if (computeType == null) {
            return djlDevice().isGpu() ? DataType.FLOAT16 : DataType.FLOAT32;
        }
        return computeType.equals("float16") ? DataType.FLOAT16 : DataType.FLOAT32;
    }

    static Device parseDevice(String text) {
        if (text.equals("cpu")) {
            return Device.cpu();
        }
        if (text.matches("gpu:\\d+")) {
            return Device.gpu(Integer.parseInt(text.substring(4)));
        }
        throw new IllegalArgumentException("device must be 'cpu' or 'gpu:N', got '" + text + "'");
    }
}
