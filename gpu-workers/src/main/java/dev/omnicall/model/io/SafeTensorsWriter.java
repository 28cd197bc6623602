package dev.omnicall.model.io;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.io.OutputStream;
import java.io.BufferedOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/** Writes a safetensors file (header padded to 8 bytes, tensors in insertion order). */
public final class SafeTensorsWriter {
    private record Entry(DType dtype, long[] shape, byte[] data) {
    }

    private final Map<String, Entry> entries = new LinkedHashMap<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();

    public SafeTensorsWriter metadata(String key, String value) {
        metadata.put(key, value);
        return this;
    }

    public SafeTensorsWriter put(String name, DType dtype, long[] shape, byte[] data) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        if (n * dtype.bytes() != data.length) {
            throw new IllegalArgumentException("tensor " + name + ": " + data.length + " bytes do not fit shape "
                    + java.util.Arrays.toString(shape) + " of " + dtype);
        }
        if (entries.putIfAbsent(name, new Entry(dtype, shape.clone(), data)) != null) {
            throw new IllegalArgumentException("tensor " + name + " written twice");
        }
        return this;
    }

    public SafeTensorsWriter putFloats(String name, DType dtype, long[] shape, float[] values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * dtype.bytes()).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            switch (dtype) {
                case F32 -> b.putFloat(v);
                case F16 -> b.putShort(HalfFloats.floatToHalf(v));
                case BF16 -> b.putShort(HalfFloats.floatToBf16(v));
                case F64 -> b.putDouble(v);
                default -> throw new IllegalArgumentException(dtype + " is not a float type");
            }
        }
        return put(name, dtype, shape, b.array());
    }

    public SafeTensorsWriter putLongs(String name, long[] shape, long[] values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        for (long v : values) {
            b.putLong(v);
        }
        return put(name, DType.I64, shape, b.array());
    }

    /**
     * Sets rows {@code rows} of the 2-D tensor {@code name}, already put, to zero (all bytes zero: 0.0 in every
     * float type).
     */
    public SafeTensorsWriter zeroRows(String name, int... rows) {
        Entry e = entries.get(name);
        if (e == null || e.shape.length != 2) {
            throw new IllegalArgumentException("tensor " + name + " is not a 2-D tensor of this writer");
        }
        int rowBytes = (int) (e.shape[1] * e.dtype.bytes());
        for (int r : rows) {
            if (r < 0 || r >= e.shape[0]) {
                throw new IllegalArgumentException("row " + r + " is outside tensor " + name + " of " + e.shape[0] + " rows");
            }
            java.util.Arrays.fill(e.data, r * rowBytes, (r + 1) * rowBytes, (byte) 0);
        }
        return this;
    }

    public long dataBytes() {
        return entries.values().stream().mapToLong(e -> e.data.length).sum();
    }

    public void write(Path file) throws IOException {
        JsonObject header = new JsonObject();
        if (!metadata.isEmpty()) {
            JsonObject meta = new JsonObject();
            metadata.forEach(meta::addProperty);
            header.add("__metadata__", meta);
        }
        long offset = 0;
        for (Map.Entry<String, Entry> e : entries.entrySet()) {
            JsonObject t = new JsonObject();
            t.addProperty("dtype", e.getValue().dtype.safetensorsName());
            JsonArray shape = new JsonArray();
            for (long d : e.getValue().shape) {
                shape.add(d);
            }
            t.add("shape", shape);
            JsonArray offsets = new JsonArray();
            offsets.add(offset);
            offset += e.getValue().data.length;
            offsets.add(offset);
            t.add("data_offsets", offsets);
            header.add(e.getKey(), t);
        }
        byte[] json = header.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;
        byte[] headerBytes = new byte[padded];
        java.util.Arrays.fill(headerBytes, (byte) ' ');
        System.arraycopy(json, 0, headerBytes, 0, json.length);
        Files.createDirectories(file.toAbsolutePath().getParent());
        try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(file), 1 << 16)) {
            out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded).array());
            out.write(headerBytes);
            for (Entry e : entries.values()) {
                out.write(e.data);
            }
        }
    }
}
