package dev.omnicall.model;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;

/**
 * How to run a checkpoint: device ({@code cpu} or {@code gpu:N}), compute type ({@code float32} or
 * {@code float16}; null picks float32 on CPU and float16 on GPU), the log-mel input length (30 s as the
 * reference, or 0 for the audio's own length: the latency option), where the vocoder files are, and
 * {@code speechEncoder}: openai's Whisper file (e.g. {@code large-v3.pt}) to use when the shards hold no
 * {@code model.speech_encoder.*} tensors, overriding config.json's {@code speech_encoder} (null: use that).
 * Paths are relative to the checkpoint directory unless absolute.
 */
public record ModelOptions(String device, String computeType, double paddedSeconds, String vocoderCheckpoint,
        String vocoderConfig, String speechEncoder) {

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
    }

    /** Without a speech encoder override: config.json's {@code speech_encoder} applies. */
    public ModelOptions(String device, String computeType, double paddedSeconds, String vocoderCheckpoint,
            String vocoderConfig) {
        this(device, computeType, paddedSeconds, vocoderCheckpoint, vocoderConfig, null);
    }

    /** CPU, float32, 30 s padding: the reference behaviour. */
    public static ModelOptions defaults() {
        return new ModelOptions("cpu", null, 30, null, null, null);
    }

    public ModelOptions withPaddedSeconds(double seconds) {
        return new ModelOptions(device, computeType, seconds, vocoderCheckpoint, vocoderConfig, speechEncoder);
    }

    public ModelOptions withDevice(String newDevice) {
        return new ModelOptions(newDevice, computeType, paddedSeconds, vocoderCheckpoint, vocoderConfig, speechEncoder);
    }

    /** openai's Whisper file (relative to the checkpoint dir unless absolute); null or blank: config.json's. */
    public ModelOptions withSpeechEncoder(String path) {
        return new ModelOptions(device, computeType, paddedSeconds, vocoderCheckpoint, vocoderConfig,
                path == null || path.isBlank() ? null : path);
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
