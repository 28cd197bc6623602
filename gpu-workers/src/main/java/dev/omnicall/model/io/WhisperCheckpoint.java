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
 * "model_state_dict": {...}}}, fp16. Only the {@code encoder.*} tensors are read (the decoder's storages
 * stay on disk); they are exposed under {@code targetPrefix} + the name after {@code encoder.}, i.e. the
 * names the encoder loader uses for weights inside the shards.
 */
public final class WhisperCheckpoint implements TensorSource {
    public static final String STATE_KEY = "model_state_dict";
    public static final String DIMS_KEY = "dims";
    public static final String ENCODER_PREFIX = "encoder.";

    /** The encoder half of openai's {@code ModelDimensions}. */
    public record Dims(int nMels, int nAudioCtx, int nAudioState, int nAudioHead, int nAudioLayer) {
    }

    private final Path file;
    private final Dims dims;
    private final TorchCheckpoint inner;
    private final String targetPrefix;
    private final Map<String, String> innerName; // exposed name -> encoder.* name

    private WhisperCheckpoint(Path file, Dims dims, TorchCheckpoint inner, String targetPrefix) {
        this.file = file;
        this.dims = dims;
        this.inner = inner;
        this.targetPrefix = targetPrefix;
        Map<String, String> names = new LinkedHashMap<>();
        for (String n : inner.names()) {
            names.put(targetPrefix + n.substring(ENCODER_PREFIX.length()), n);
        }
        this.innerName = Collections.unmodifiableMap(names);
    }

    public static WhisperCheckpoint open(Path file, String targetPrefix) {
        Map<String, Object> root = TorchCheckpoint.readRoot(file);
        if (!(root.get(STATE_KEY) instanceof Map<?, ?>) || !(root.get(DIMS_KEY) instanceof Map<?, ?> dimsMap)) {
            throw new CheckpointException(file + " is not an openai Whisper checkpoint: it needs top-level '"
                    + DIMS_KEY + "' and '" + STATE_KEY + "' dicts, but has keys " + root.keySet());
        }
        Dims dims = new Dims(dim(file, dimsMap, "n_mels"), dim(file, dimsMap, "n_audio_ctx"),
                dim(file, dimsMap, "n_audio_state"), dim(file, dimsMap, "n_audio_head"),
                dim(file, dimsMap, "n_audio_layer"));
        TorchCheckpoint inner = TorchCheckpoint.open(file, root, STATE_KEY, n -> n.startsWith(ENCODER_PREFIX));
        if (inner.names().isEmpty()) {
            throw new CheckpointException(file + " has no " + ENCODER_PREFIX + "* tensors in its " + STATE_KEY);
        }
        return new WhisperCheckpoint(file, dims, inner, targetPrefix);
    }

    private static int dim(Path file, Map<?, ?> dims, String key) {
        if (!(dims.get(key) instanceof Number n)) {
            throw new CheckpointException(file + ": dims has no integer '" + key + "' (dims: " + dims + ")");
        }
        return n.intValue();
    }

    public Path file() {
        return file;
    }

    public Dims dims() {
        return dims;
    }

    /** The exposed (target-prefixed) names; decoder tensors are not among them. */
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
                    ? ENCODER_PREFIX + name.substring(targetPrefix.length()) : name;
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
