package dev.omnicall.model;

import dev.omnicall.model.config.SpeechBlocksConfig;
import dev.omnicall.model.io.CheckpointException;
import dev.omnicall.model.io.TensorSource;
import dev.omnicall.model.io.WhisperCheckpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Where a checkpoint's Whisper encoder comes from, for either model family: its shards, or openai's Whisper file
 * ({@code large-v3.pt}) whose dims must agree with config.json.
 */
public final class WhisperEncoderFile {
    private static final Logger LOG = LoggerFactory.getLogger(WhisperEncoderFile.class);

    private WhisperEncoderFile() {
    }

    /**
     * Where the Whisper encoder comes from. The shards win when they hold any {@code model.speech_encoder.*}
     * tensor; otherwise openai's file named by the option or config.json {@code speech_encoder} (relative to
     * dir unless absolute) is opened and its dims checked against config.json. Returns null for the shards.
     */
    public static WhisperCheckpoint openIfNeeded(TensorSource shards, SpeechBlocksConfig config, Path dir,
            ModelOptions options) {
        String named = options.speechEncoder() != null ? options.speechEncoder() : config.speechEncoder();
        String from = options.speechEncoder() != null ? "the speechEncoder option"
                : "config.json speech_encoder";
        long inShards = shards.names().stream().filter(n -> n.startsWith(WhisperEncoder.PREFIX)).count();
        if (inShards > 0) {
            LOG.info("speech encoder: {} tensors under {}* in the shards of {}{}", inShards, WhisperEncoder.PREFIX,
                    dir, named == null ? "" : " (they win over " + dir.resolve(named) + " named by " + from + ")");
            return null;
        }
        if (named == null || named.isBlank()) {
            throw new CheckpointException("the shards in " + dir + " hold no " + WhisperEncoder.PREFIX
                    + "* tensors and neither config.json speech_encoder nor the speechEncoder option names "
                    + "openai's Whisper file (e.g. large-v3.pt)");
        }
        Path file = dir.resolve(named);
        if (!Files.isRegularFile(file)) {
            throw new CheckpointException("speech encoder file " + file + " (" + from + " '" + named
                    + "') does not exist; the shards in " + dir + " hold no " + WhisperEncoder.PREFIX
                    + "* tensors, so openai's Whisper checkpoint (large-v3.pt) is needed there, or its path in the "
                    + "speechEncoder option (relative to the checkpoint dir unless absolute)");
        }
        WhisperCheckpoint whisper = WhisperCheckpoint.open(file, WhisperEncoder.PREFIX);
        try {
            checkDims(whisper, config);
        } catch (RuntimeException e) {
            whisper.close();
            throw e;
        }
        LOG.info("speech encoder: {} encoder.* tensors from {} ({}; n_mels {}, n_audio_state {}, n_audio_layer {},"
                + " n_audio_head {})", whisper.names().size(), file, from, whisper.dims().nMels(),
                whisper.dims().nAudioState(), whisper.dims().nAudioLayer(), whisper.dims().nAudioHead());
        return whisper;
    }

    private static void checkDims(WhisperCheckpoint whisper, SpeechBlocksConfig config) {
        WhisperCheckpoint.Dims d = whisper.dims();
        String f = "speech encoder file " + whisper.file() + ": dims ";
        requireSame(f + "n_audio_state", d.nAudioState(), "config.json speech_encoder_hidden_size",
                config.speechEncoderHiddenSize());
        requireSame(f + "n_audio_layer", d.nAudioLayer(), "config.json speech_encoder_num_layers",
                config.speechEncoderNumLayers());
        requireSame(f + "n_audio_head", d.nAudioHead(), "config.json speech_encoder_num_heads",
                config.speechEncoderNumHeads());
        var conv1 = whisper.info(WhisperEncoder.PREFIX + "conv1.weight");
        if (conv1 != null && conv1.shape().length == 3) {
            requireSame(f + "n_mels", d.nMels(), "the mel bins of its tensor encoder.conv1.weight "
                    + conv1.shapeText() + " (dim 1)", (int) conv1.shape()[1]);
        }
        var pos = whisper.info(WhisperEncoder.PREFIX + "positional_embedding");
        if (pos != null && pos.shape().length == 2) {
            requireSame(f + "n_audio_ctx", d.nAudioCtx(), "the rows of its tensor encoder.positional_embedding "
                    + pos.shapeText(), (int) pos.shape()[0]);
        }
    }

    private static void requireSame(String what, int value, String against, int expected) {
        if (value != expected) {
            throw new CheckpointException(what + " is " + value + " but " + against + " is " + expected);
        }
    }
}
