package dev.omnicall.model.io;

import ai.djl.ndarray.types.DataType;

/** Element types that checkpoints and dumps use, with their safetensors spelling. */
public enum DType {
    F32("F32", 4, DataType.FLOAT32),
    F16("F16", 2, DataType.FLOAT16),
    BF16("BF16", 2, DataType.BFLOAT16),
    F64("F64", 8, DataType.FLOAT64),
    I64("I64", 8, DataType.INT64),
    I32("I32", 4, DataType.INT32);

    private final String safetensorsName;
    private final int bytes;
    private final DataType djl;

    DType(String safetensorsName, int bytes, DataType djl) {
        this.safetensorsName = safetensorsName;
        this.bytes = bytes;
        this.djl = djl;
    }

    public String safetensorsName() {
        return safetensorsName;
    }

    public int bytes() {
        return bytes;
    }

    public DataType djl() {
        return djl;
    }

    public boolean isFloat() {
        return this == F32 || this == F16 || this == BF16 || this == F64;
    }

    public static DType fromSafetensors(String name) {
        for (DType t : values()) {
            if (t.safetensorsName.equals(name)) {
                return t;
            }
        }
        throw new CheckpointException("unsupported safetensors dtype " + name);
    }
}
