package dev.omnicall.model.io;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.util.Arrays;
import java.util.Set;

/**
 * Named tensors of a checkpoint. {@link #load} is the one way weights enter the model: it checks
 * that the tensor exists, that its shape is the one the model expects and that it is a float type,
 * and fails with a message that names the tensor and both shapes.
 */
public interface TensorSource extends AutoCloseable {

    Set<String> names();

    /** The tensor's location, or null when the checkpoint has no tensor of that name. */
    TensorInfo info(String name);

    /** Loads a float tensor as {@code target} on the manager's device; expectedShape is checked exactly. */
    NDArray load(NDManager manager, String name, DataType target, long... expectedShape);

    /** Checks presence, float dtype and shape; returns the info. */
    default TensorInfo require(String name, long... expectedShape) {
        TensorInfo info = info(name);
        if (info == null) {
            throw new CheckpointException("tensor " + name + " is missing from the checkpoint (expected shape "
                    + Arrays.toString(expectedShape) + ")");
        }
        if (!info.dtype().isFloat()) {
            throw new CheckpointException("tensor " + name + " has dtype " + info.dtype()
                    + " but a floating-point weight (F32, F16 or BF16) is expected");
        }
        if (!Arrays.equals(info.shape(), expectedShape)) {
            throw new CheckpointException("tensor " + name + " has shape " + info.shapeText() + " in "
                    + info.file().getFileName() + " but the model expects " + Arrays.toString(expectedShape));
        }
        return info;
    }

    @Override
    void close();
}
