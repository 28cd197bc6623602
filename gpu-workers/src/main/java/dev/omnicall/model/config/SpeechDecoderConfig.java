package dev.omnicall.model.config;

import com.google.gson.annotations.SerializedName;
import java.nio.file.Path;

/**
 * This runtime's config.json keys for the Whisper text decoder (the caller transcriber); the published
 * LLaMA-Omni config has none of them, and they are read from the checkpoint's config.json, beside the keys of
 * {@link SpeechBlocksConfig}.
 * They matter only when the shards carry the decoder ({@code model.speech_decoder.*}); openai's
 * {@code large-v3.pt} carries its own dims.
 * <ul>
 * <li>{@code speech_decoder_num_layers}: n_text_layer (default 32, large-v3)</li>
 * <li>{@code speech_decoder_num_heads}: n_text_head (default 20, large-v3)</li>
 * <li>{@code speech_tokenizer}: the tiktoken vocabulary ({@code multilingual.tiktoken}), relative to the
 * checkpoint dir unless absolute (default: {@code multilingual.tiktoken} beside the Whisper file the
 * decoder comes from, or in the checkpoint dir when it comes from the shards)</li>
 * </ul>
 * n_vocab, n_text_ctx and n_text_state are the shapes of {@code token_embedding.weight} and
 * {@code positional_embedding} (n_text_state must equal {@code speech_encoder_hidden_size}, as in every
 * Whisper: the cross-attention projects the encoder output with n_text_state square matrices).
 */
public record SpeechDecoderConfig(
        @SerializedName("speech_decoder_num_layers") int numLayers,
        @SerializedName("speech_decoder_num_heads") int numHeads,
        @SerializedName("speech_tokenizer") String speechTokenizer) {

    public static final String NUM_LAYERS_KEY = "speech_decoder_num_layers";
    public static final String NUM_HEADS_KEY = "speech_decoder_num_heads";
    public static final String TOKENIZER_KEY = "speech_tokenizer";
    private static final String CONFIG_FILE = "config.json";

    public SpeechDecoderConfig {
        if (numLayers == 0) {
            numLayers = 32;
        }
        if (numHeads == 0) {
            numHeads = 20;
        }
        if (numLayers < 0) {
            throw new IllegalArgumentException("config.json: " + NUM_LAYERS_KEY + " must be positive, got " + numLayers);
        }
        if (numHeads < 0) {
            throw new IllegalArgumentException("config.json: " + NUM_HEADS_KEY + " must be positive, got " + numHeads);
        }
        if (speechTokenizer != null && speechTokenizer.isBlank()) {
            speechTokenizer = null;
        }
    }

    public static SpeechDecoderConfig read(Path checkpointDir) {
        return Json.read(checkpointDir.resolve(CONFIG_FILE), SpeechDecoderConfig.class);
    }
}
