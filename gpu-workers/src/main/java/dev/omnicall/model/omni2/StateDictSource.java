package dev.omnicall.model.omni2;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.omnicall.model.io.CheckpointException;
import dev.omnicall.model.io.TensorInfo;
import dev.omnicall.model.io.TensorSource;
import dev.omnicall.model.io.TorchCheckpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * A {@code torch.save(module.state_dict())} file (the cosy2_decoder's {@code flow.pt} and {@code hift.pt}):
 * the tensors sit at the top level, possibly under a training wrapper's prefix ({@code generator.} in a
 * HiFT file saved from the GAN), which is stripped as CosyVoice's loader does. A missing tensor or a wrong
 * shape is reported by the underlying reader with the tensor's name in the file and both shapes.
 */
final class StateDictSource implements TensorSource {
    private final Path path;
    private final TorchCheckpoint file;
    private final Map<String, String> fileNames; // stripped name -> name in the file

    private StateDictSource(Path path, TorchCheckpoint file, Map<String, String> fileNames) {
        this.path = path;
        this.file = file;
        this.fileNames = fileNames;
    }

    /** Opens {@code path}; names starting with {@code stripPrefix} (may be empty) are seen without it. */
    static StateDictSource open(Path path, String stripPrefix) {
        if (!Files.isRegularFile(path)) {
            throw new CheckpointException(path + " is missing (a torch.save state dict is expected there)");
        }
        Map<String, Object> root = TorchCheckpoint.readRoot(path);
        TorchCheckpoint file = TorchCheckpoint.open(path, root, null, name -> true);
        if (file.names().isEmpty()) {
            throw new CheckpointException(path + " holds no tensors at its top level (keys: " + root.keySet()
                    + "): a torch.save of a state dict is expected");
        }
        Map<String, String> names = new LinkedHashMap<>();
        for (String name : file.names()) {
            String seen = !stripPrefix.isEmpty() && name.startsWith(stripPrefix) ? name.substring(stripPrefix.length())
                    : name;
            String earlier = names.put(seen, name);
            if (earlier != null) {
                throw new CheckpointException(path + " holds both " + earlier + " and " + name
                        + ", the same tensor once " + stripPrefix + " is stripped");
            }
        }
        return new StateDictSource(path, file, Collections.unmodifiableMap(names));
    }

    @Override
    public Set<String> names() {
        return fileNames.keySet();
    }

    @Override
    public TensorInfo info(String name) {
        String inFile = fileNames.get(name);
        return inFile == null ? null : file.info(inFile);
    }

    @Override
    public NDArray load(NDManager manager, String name, DataType target, long... expectedShape) {
        String inFile = fileNames.get(name);
        if (inFile == null) {
            throw new CheckpointException("tensor " + name + " is missing from " + path + " (expected shape "
                    + java.util.Arrays.toString(expectedShape) + ")");
        }
        return file.load(manager, inFile, target, expectedShape);
    }

    @Override
    public void close() {
        file.close();
    }
}
