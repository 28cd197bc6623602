package dev.omnicall.model.io;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;

/** Helpers for arrays made from Java buffers. */
final class Tensors {
    private Tensors() {
    }

    /**
     * A copy in target type that owns its memory. An array created from a Java buffer only borrows that
     * buffer, and {@code toType(sameType, true)} may hand back the same storage, which then dangles once
     * the borrowed buffer is freed; a clone (or a real conversion) always allocates.
     */
    static NDArray ownedCopy(NDArray borrowed, DataType target) {
        return borrowed.getDataType() == target ? borrowed.duplicate() : borrowed.toType(target, false);
    }
}
