package dev.omnicall.model.config;

/**
 * What the speech blocks both families share read from config.json: the Whisper encoder's sizes, the adaptor's
 * frame stacking and widths, and openai's Whisper file when the shards hold no encoder. Both families' config.json
 * use these names; each family's config record fills in the defaults of its reference code and hands this on
 * ({@code speechBlocks()}).
 *
 * @param speechEncoderHiddenSize   n_audio_state (1280 for large-v3)
 * @param speechEncoderNumHeads     n_audio_head
 * @param speechEncoderNumLayers    n_audio_layer
 * @param speechEncoderDsRate       encoder frames stacked into one adaptor row (k = 5)
 * @param speechProjectorHiddenSize the adaptor's inner width
 * @param hiddenSize                the LLM's width: the adaptor's output
 * @param speechEncoder             openai's Whisper file relative to the checkpoint dir, or null
 */
public record SpeechBlocksConfig(int speechEncoderHiddenSize, int speechEncoderNumHeads, int speechEncoderNumLayers,
        int speechEncoderDsRate, int speechProjectorHiddenSize, int hiddenSize, String speechEncoder) {

    public SpeechBlocksConfig {
        if (speechEncoderHiddenSize <= 0 || speechEncoderNumHeads <= 0 || speechEncoderNumLayers <= 0
                || speechEncoderDsRate <= 0 || speechProjectorHiddenSize <= 0 || hiddenSize <= 0) {
            throw new IllegalArgumentException("config.json: speech_encoder_hidden_size, _num_heads, _num_layers, "
                    + "_ds_rate, speech_projector_hidden_size and hidden_size must be positive, got "
                    + speechEncoderHiddenSize + ", " + speechEncoderNumHeads + ", " + speechEncoderNumLayers + ", "
                    + speechEncoderDsRate + ", " + speechProjectorHiddenSize + ", " + hiddenSize);
        }
        if (speechEncoderHiddenSize % speechEncoderNumHeads != 0) {
            throw new IllegalArgumentException("config.json: speech_encoder_hidden_size " + speechEncoderHiddenSize
                    + " is not divisible by speech_encoder_num_heads " + speechEncoderNumHeads);
        }
    }
}
