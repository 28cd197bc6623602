package dev.omnicall.model;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.omnicall.model.config.SpeechBlocksConfig;
import dev.omnicall.model.config.SpeechDecoderConfig;
import dev.omnicall.model.io.CheckpointException;
import dev.omnicall.model.io.TensorInfo;
import dev.omnicall.model.io.TensorSource;
import dev.omnicall.model.io.WhisperCheckpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Finds the parts of the caller transcriber at load time: the Whisper decoder's weights and the tiktoken
 * vocabulary. Decoder: the shards when they hold any {@code model.speech_decoder.*} tensor (dims from
 * config.json {@code speech_decoder_num_layers}/{@code _num_heads} and the tensors' shapes), else the
 * {@code decoder.*} half of openai's Whisper file (the one the encoder came from, or the one the option or
 * config.json {@code speech_encoder} names when the encoder is in the shards; dims from its {@code dims}).
 * Vocabulary: {@link ModelOptions#transcriberVocabulary()}, else config.json {@code speech_tokenizer}, else
 * {@code multilingual.tiktoken} beside the Whisper file (or in the checkpoint dir for shards).
 * A missing part is not an error: the model loads without a transcriber and one INFO line says which part
 * is missing. A part that is there but wrong (misshaped tensor, dims that disagree, a vocabulary of the
 * wrong size) fails the load with a message naming it.
 *
 * <p>Public so that a model family's loader ({@code omni.OmniModel}) can ask for the transcriber: {@link #plan} while
 * the checkpoint's files are open, {@link #build} once the device manager exists.
 */
public final class TranscriberLoader {
    private static final Logger LOG = LoggerFactory.getLogger(TranscriberLoader.class);

    /** A decoder source with its dims and where the vocabulary is, or the reason there is no transcriber. */
    public record Plan(TensorSource decoderWeights, WhisperDecoder.Dims dims, String decoderFrom, Path vocabulary,
            String vocabularyFrom, String absentReason, AutoCloseable owned) implements AutoCloseable {
        public static Plan absent(String reason) {
            return new Plan(null, null, null, null, null, reason, null);
        }

        @Override
        public void close() {
            if (owned != null) {
                try {
                    owned.close();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }
        }
    }

    private TranscriberLoader() {
    }

    /**
     * @param shards the checkpoint's shards
     * @param encoderFile openai's Whisper file when the encoder came from it, else null
     */
    public static Plan plan(TensorSource shards, WhisperCheckpoint encoderFile, SpeechBlocksConfig config, Path dir,
            ModelOptions options) {
        if (!options.transcriber()) {
            return Plan.absent("switched off (ModelOptions transcriber=false)");
        }
        long inShards = shards.names().stream().filter(n -> n.startsWith(WhisperDecoder.PREFIX)).count();
        SpeechDecoderConfig dc = SpeechDecoderConfig.read(dir);
        if (inShards > 0) {
            WhisperDecoder.Dims dims = shardDims(shards, config, dc, dir);
            String from = inShards + " " + WhisperDecoder.PREFIX + "* tensors in the shards of " + dir + " ("
                    + SpeechDecoderConfig.NUM_LAYERS_KEY + " " + dims.nTextLayer() + ", "
                    + SpeechDecoderConfig.NUM_HEADS_KEY + " " + dims.nTextHead() + ")";
            Vocabulary v = vocabulary(dir, dir, dc, options);
            if (!Files.isRegularFile(v.path())) {
                return Plan.absent(v.missing(from));
            }
            return new Plan(shards, dims, from, v.path(), v.from(), null, null);
        }
        Path file = encoderFile != null ? encoderFile.file() : namedWhisperFile(config, dir, options);
        if (file == null) {
            return Plan.absent("the checkpoint has no Whisper decoder: no " + WhisperDecoder.PREFIX
                    + "* tensors in the shards of " + dir + " and no openai Whisper file (large-v3.pt) in use");
        }
        if (!WhisperCheckpoint.hasDecoder(file)) {
            return Plan.absent("the checkpoint has no Whisper decoder: no " + WhisperDecoder.PREFIX
                    + "* tensors in the shards of " + dir + " and no decoder.* tensors in " + file);
        }
        // the vocabulary first: without it the decoder's storages are not worth reading
        Vocabulary v = vocabulary(dir, file.toAbsolutePath().getParent(), dc, options);
        if (!Files.isRegularFile(v.path())) {
            return Plan.absent(v.missing("decoder.* of " + file));
        }
        WhisperCheckpoint decoderFile = WhisperCheckpoint.openDecoder(file, WhisperDecoder.PREFIX);
        try {
            WhisperCheckpoint.Dims d = decoderFile.dims();
            if (d.nTextState() != config.speechEncoderHiddenSize()) {
                throw new CheckpointException("Whisper file " + file + ": dims n_text_state is " + d.nTextState()
                        + " but config.json speech_encoder_hidden_size is " + config.speechEncoderHiddenSize()
                        + " (the decoder cross-attends to the encoder output)");
            }
            WhisperDecoder.Dims dims;
            try {
                dims = new WhisperDecoder.Dims(d.nVocab(), d.nTextCtx(), d.nTextState(), d.nTextHead(), d.nTextLayer());
            } catch (IllegalArgumentException e) {
                throw new CheckpointException("Whisper file " + file + ": " + e.getMessage(), e);
            }
            String from = decoderFile.names().size() + " decoder.* tensors of " + file + " (n_vocab " + dims.nVocab()
                    + ", n_text_layer " + dims.nTextLayer() + ", n_text_head " + dims.nTextHead() + ")";
            return new Plan(decoderFile, dims, from, v.path(), v.from(), null, decoderFile);
        } catch (RuntimeException e) {
            decoderFile.close();
            throw e;
        }
    }

    /** Where the vocabulary is and which setting said so. */
    private record Vocabulary(Path path, String from) {
        String missing(String decoderFrom) {
            return "the Whisper decoder is there (" + decoderFrom + ") but its vocabulary " + path + " (" + from
                    + ") does not exist; openai-whisper ships it as whisper/assets/" + WhisperTokenizer.FILE_NAME;
        }
    }

    /** Option, else config.json speech_tokenizer (both relative to the checkpoint dir), else beside the decoder. */
    private static Vocabulary vocabulary(Path checkpointDir, Path besideDecoder, SpeechDecoderConfig dc,
            ModelOptions options) {
        if (options.transcriberVocabulary() != null) {
            return new Vocabulary(checkpointDir.resolve(options.transcriberVocabulary()),
                    "the transcriberVocabulary option");
        }
        if (dc.speechTokenizer() != null) {
            return new Vocabulary(checkpointDir.resolve(dc.speechTokenizer()),
                    "config.json " + SpeechDecoderConfig.TOKENIZER_KEY);
        }
        return new Vocabulary(besideDecoder.resolve(WhisperTokenizer.FILE_NAME), "the default beside the decoder");
    }

    /** The Whisper file named by the option or config.json when it exists (the encoder being in the shards). */
    private static Path namedWhisperFile(SpeechBlocksConfig config, Path dir, ModelOptions options) {
        String named = options.speechEncoder() != null ? options.speechEncoder() : config.speechEncoder();
        if (named == null || named.isBlank()) {
            return null;
        }
        Path file = dir.resolve(named);
        return Files.isRegularFile(file) ? file : null;
    }

    private static WhisperDecoder.Dims shardDims(TensorSource shards, SpeechBlocksConfig config, SpeechDecoderConfig dc,
            Path dir) {
        int d = config.speechEncoderHiddenSize();
        TensorInfo embedding = shapeOf(shards, WhisperDecoder.PREFIX + "token_embedding.weight", dir);
        TensorInfo positions = shapeOf(shards, WhisperDecoder.PREFIX + "positional_embedding", dir);
        try {
            return new WhisperDecoder.Dims((int) embedding.shape()[0], (int) positions.shape()[0], d, dc.numHeads(),
                    dc.numLayers());
        } catch (IllegalArgumentException e) {
            throw new CheckpointException("config.json of " + dir + ": " + e.getMessage() + " ("
                    + SpeechDecoderConfig.NUM_HEADS_KEY + ", speech_encoder_hidden_size)", e);
        }
    }

    private static TensorInfo shapeOf(TensorSource shards, String name, Path dir) {
        TensorInfo info = shards.info(name);
        if (info == null || info.shape().length != 2) {
            throw new CheckpointException("the shards of " + dir + " hold " + WhisperDecoder.PREFIX + "* tensors but "
                    + (info == null ? "not " + name : name + " has shape " + info.shapeText() + ", not 2-D")
                    + " (it gives the decoder's n_vocab / n_text_ctx)");
        }
        return info;
    }

    /** Loads decoder and vocabulary, or logs why there is no transcriber and returns null. */
    public static Transcriber build(Plan plan, NDManager manager, DataType type) {
        if (plan.absentReason() != null) {
            LOG.info("transcriber: none, {}", plan.absentReason());
            return null;
        }
        WhisperDecoder decoder = new WhisperDecoder(plan.decoderWeights(), manager, type, plan.dims());
        WhisperTokenizer tokenizer = WhisperTokenizer.load(plan.vocabulary(), plan.dims().nVocab());
        Transcriber transcriber = new Transcriber(decoder, tokenizer, manager);
        LOG.info("transcriber: Whisper decoder from {}, vocabulary {} ({}; {} base tokens, {} languages)",
                plan.decoderFrom(), plan.vocabulary(), plan.vocabularyFrom(), tokenizer.baseVocabSize(),
                tokenizer.languages().size());
        return transcriber;
    }
}
