package dev.omnicall.model.io;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * openai/whisper's own checkpoint file (e.g. {@code large-v3.pt}, the file LLaMA-Omni's
 * {@code config.speech_encoder} names): a {@code torch.save} dict {@code {"dims": {...},
 * "model_state_dict": {...}}}, fp16. One instance reads one half: {@link #open} the {@code encoder.*}
 * tensors, {@link #openDecoder} the {@code decoder.*} ones (the other half's storages stay on disk); they
 * are exposed under {@code targetPrefix} + the name after {@code encoder.} / {@code decoder.}, i.e. the names
 * the loaders use for weights inside the shards.
 */
public final class WhisperCheckpoint implements TensorSource {
    public static final String STATE_KEY = "model_state_dict";
    public static final String DIMS_KEY = "dims";
    public static final String ENCODER_PREFIX = "encoder.";
    public static final String DECODER_PREFIX = "decoder.";

    /** openai's {@code ModelDimensions}; a text dim the file does not have is -1. */
    public record Dims(int nMels, int nAudioCtx, int nAudioState, int nAudioHead, int nAudioLayer, int nVocab,
            int nTextCtx, int nTextState, int nTextHead, int nTextLayer) {
        /** The encoder half only (text dims unknown). */
        public Dims(int nMels, int nAudioCtx, int nAudioState, int nAudioHead, int nAudioLayer) {
            this(nMels, nAudioCtx, nAudioState, nAudioHead, nAudioLayer, -1, -1, -1, -1, -1);
        }
    }

    private final Path file;
    private final Dims dims;
    private final TorchCheckpoint inner;
    private final String targetPrefix;
    private final String sourcePrefix;
    private final Map<String, String> innerName; // exposed name -> encoder.* / decoder.* name

    private WhisperCheckpoint(Path file, Dims dims, TorchCheckpoint inner, String targetPrefix, String sourcePrefix) {
        this.file = file;
        this.dims = dims;
        this.inner = inner;
        this.targetPrefix = targetPrefix;
        this.sourcePrefix = sourcePrefix;
        Map<String, String> names = new LinkedHashMap<>();
        for (String n : inner.names()) {
            names.put(targetPrefix + n.substring(sourcePrefix.length()), n);
        }
        this.innerName = Collections.unmodifiableMap(names);
    }

    /** The encoder half; fails when the file has no {@code encoder.*} tensor. */
    public static WhisperCheckpoint open(Path file, String targetPrefix) {
        Map<String, Object> root = TorchCheckpoint.readRoot(file);
        Dims dims = readDims(file, root);
        TorchCheckpoint inner = TorchCheckpoint.open(file, root, STATE_KEY, n -> n.startsWith(ENCODER_PREFIX));
        if (inner.names().isEmpty()) {
            throw new CheckpointException(file + " has no " + ENCODER_PREFIX + "* tensors in its " + STATE_KEY);
        }
        return new WhisperCheckpoint(file, dims, inner, targetPrefix, ENCODER_PREFIX);
    }

    /**
     * The decoder half, or null when the file has no {@code decoder.*} tensor; its text dims (n_vocab,
     * n_text_ctx, n_text_state, n_text_head, n_text_layer) must be present.
     */
    public static WhisperCheckpoint openDecoder(Path file, String targetPrefix) {
        Map<String, Object> root = TorchCheckpoint.readRoot(file);
        Dims dims = readDims(file, root);
        if (!((Map<?, ?>) root.get(STATE_KEY)).keySet().stream().anyMatch(
                k -> String.valueOf(k).startsWith(DECODER_PREFIX))) {
            return null;
        }
        Map<?, ?> dimsMap = (Map<?, ?>) root.get(DIMS_KEY);
        for (String key : new String[] {"n_vocab", "n_text_ctx", "n_text_state", "n_text_head", "n_text_layer"}) {
            dim(file, dimsMap, key);
        }
        TorchCheckpoint inner = TorchCheckpoint.open(file, root, STATE_KEY, n -> n.startsWith(DECODER_PREFIX));
        return new WhisperCheckpoint(file, dims, inner, targetPrefix, DECODER_PREFIX);
    }

    /** Whether the file's model_state_dict has any decoder.* tensor (reads the pickle only). */
    public static boolean hasDecoder(Path file) {
        Map<String, Object> root = TorchCheckpoint.readRoot(file);
        readDims(file, root);
        return ((Map<?, ?>) root.get(STATE_KEY)).keySet().stream()
                .anyMatch(k -> String.valueOf(k).startsWith(DECODER_PREFIX));
    }

    private static Dims readDims(Path file, Map<String, Object> root) {
        if (!(root.get(STATE_KEY) instanceof Map<?, ?>) || !(root.get(DIMS_KEY) instanceof Map<?, ?> dimsMap)) {
            throw new CheckpointException(file + " is not an openai Whisper checkpoint: it needs top-level '"
                    + DIMS_KEY + "' and '" + STATE_KEY + "' dicts, but has keys " + root.keySet());
        }
        return new Dims(dim(file, dimsMap, "n_mels"), dim(file, dimsMap, "n_audio_ctx"),
                dim(file, dimsMap, "n_audio_state"), dim(file, dimsMap, "n_audio_head"),
                dim(file, dimsMap, "n_audio_layer"), optionalDim(dimsMap, "n_vocab"),
                optionalDim(dimsMap, "n_text_ctx"), optionalDim(dimsMap, "n_text_state"),
                optionalDim(dimsMap, "n_text_head"), optionalDim(dimsMap, "n_text_layer"));
    }

    private static int dim(Path file, Map<?, ?> dims, String key) {
        if (!(dims.get(key) instanceof Number n)) {
            throw new CheckpointException(file + ": dims has no integer '" + key + "' (dims: " + dims + ")");
        }
        return n.intValue();
    }

    private static int optionalDim(Map<?, ?> dims, String key) {
        return dims.get(key) instanceof Number n ? n.intValue() : -1;
    }

    public Path file() {
        return file;
    }

    public Dims dims() {
        return dims;
    }

    /** The exposed (target-prefixed) names of this half only. */
    @Override
    public Set<String> names() {
        return innerName.keySet();
    }

    @Override
    public TensorInfo info(String name) {
        String n = innerName.get(name);
        return n == null ? null : inner.info(n);
    }

    @Override
    public NDArray load(NDManager manager, String name, DataType target, long... expectedShape) {
        String n = innerName.get(name);
        if (n == null) {
            String wanted = name.startsWith(targetPrefix)
                    ? sourcePrefix + name.substring(targetPrefix.length()) : name;
            throw new CheckpointException("tensor " + wanted + " (for " + name + ") is missing from " + STATE_KEY
                    + " of " + file + " (expected shape " + java.util.Arrays.toString(expectedShape) + ")");
        }
        try {
            return inner.load(manager, n, target, expectedShape);
        } catch (CheckpointException e) {
            throw new CheckpointException(e.getMessage() + " (" + file + ")", e);
        }
    }

    @Override
    public void close() {
        inner.close();
    }
}
