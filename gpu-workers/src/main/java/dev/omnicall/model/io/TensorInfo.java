package dev.omnicall.model.io;

import java.nio.file.Path;
import java.util.Arrays;

/** Where one tensor lives: its file, the byte range of its data, its dtype and shape. */
public record TensorInfo(String name, DType dtype, long[] shape, Path file, long offset, long length) {
    public TensorInfo {
        long elements = 1;
        for (long d : shape) {
            if (d < 0) {
                throw new CheckpointException("tensor " + name + " in " + file + " has a negative dimension "
                        + Arrays.toString(shape));
            }
            elements *= d;
        }
        if (elements * dtype.bytes() != length) {
            throw new CheckpointException("tensor " + name + " in " + file + ": shape " + Arrays.toString(shape)
                    + " of " + dtype + " needs " + elements * dtype.bytes() + " bytes but the header gives "
                    + length);
        }
    }

    public long elementCount() {
        return length / dtype.bytes();
    }

    public String shapeText() {
        return Arrays.toString(shape);
    }
}
