package dev.omnicall.model.io;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * One safetensors file: an 8-byte little-endian header length, a JSON header, then raw data.
 * Each tensor is mapped from the file on its own with {@link FileChannel#map} (in row blocks of at
 * most {@value #BLOCK_BYTES} bytes), so 5 GB shards load without DJL's 2 GB decoder limit and without
 * reading the whole file into the heap.
 */
public final class SafeTensorsFile implements TensorSource {
    static final long BLOCK_BYTES = 256L << 20;
    private static final long MAX_HEADER_BYTES = 100L << 20;

    private final Path file;
    private final FileChannel channel;
    private final Map<String, TensorInfo> tensors;
    private final Map<String, String> metadata;

    private SafeTensorsFile(Path file, FileChannel channel, Map<String, TensorInfo> tensors,
            Map<String, String> metadata) {
        this.file = file;
        this.channel = channel;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    public static SafeTensorsFile open(Path file) {
        FileChannel channel = null;
        try {
            channel = FileChannel.open(file, StandardOpenOption.READ);
            long size = channel.size();
            if (size < 8) {
                throw new CheckpointException(file + " is " + size + " bytes: too short for a safetensors header");
            }
            ByteBuffer lengthBytes = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(channel, lengthBytes, 0);
            long headerLength = lengthBytes.flip().getLong();
            if (headerLength <= 0 || headerLength > MAX_HEADER_BYTES || 8 + headerLength > size) {
                throw new CheckpointException(file + " declares a header of " + headerLength
                        + " bytes in a file of " + size + " bytes: not a safetensors file");
            }
            ByteBuffer header = ByteBuffer.allocate((int) headerLength);
            readFully(channel, header, 8);
            String json = new String(header.array(), StandardCharsets.UTF_8);
            JsonObject root = JsonParser.parseString(json).getAsJsonObject();
            long dataStart = 8 + headerLength;
            Map<String, TensorInfo> tensors = new LinkedHashMap<>();
            Map<String, String> metadata = new LinkedHashMap<>();
            for (Map.Entry<String, JsonElement> e : root.entrySet()) {
                if (e.getKey().equals("__metadata__")) {
                    for (Map.Entry<String, JsonElement> m : e.getValue().getAsJsonObject().entrySet()) {
                        metadata.put(m.getKey(), m.getValue().getAsString());
                    }
                    continue;
                }
                JsonObject t = e.getValue().getAsJsonObject();
                DType dtype = DType.fromSafetensors(t.get("dtype").getAsString());
                var shapeJson = t.getAsJsonArray("shape");
                long[] shape = new long[shapeJson.size()];
                for (int i = 0; i < shape.length; i++) {
                    shape[i] = shapeJson.get(i).getAsLong();
                }
                var offsets = t.getAsJsonArray("data_offsets");
                long begin = offsets.get(0).getAsLong();
                long end = offsets.get(1).getAsLong();
                if (begin < 0 || end < begin || dataStart + end > size) {
                    throw new CheckpointException("tensor " + e.getKey() + " in " + file + " has data offsets ["
                            + begin + "," + end + ") outside the file (" + (size - dataStart) + " data bytes)");
                }
                tensors.put(e.getKey(), new TensorInfo(e.getKey(), dtype, shape, file, dataStart + begin, end - begin));
            }
            return new SafeTensorsFile(file, channel, Collections.unmodifiableMap(tensors), metadata);
        } catch (IOException | RuntimeException e) {
            closeQuietly(channel);
            if (e instanceof CheckpointException ce) {
                throw ce;
            }
            throw new CheckpointException("cannot read safetensors file " + file + ": " + e.getMessage(), e);
        }
    }

    public Path file() {
        return file;
    }

    public Map<String, String> metadata() {
        return metadata;
    }

    @Override
    public Set<String> names() {
        return tensors.keySet();
    }

    @Override
    public TensorInfo info(String name) {
        return tensors.get(name);
    }

    @Override
    public NDArray load(NDManager manager, String name, DataType target, long... expectedShape) {
        TensorInfo info = require(name, expectedShape);
        return read(manager, info, target);
    }

    /** Loads whatever is there (any dtype, any shape), e.g. for reading dumps back in tests. */
    public NDArray loadAsIs(NDManager manager, String name) {
        TensorInfo info = tensors.get(name);
        if (info == null) {
            throw new CheckpointException("tensor " + name + " is missing from " + file);
        }
        DataType target = info.dtype() == DType.BF16 ? DataType.FLOAT32 : info.dtype().djl();
        return read(manager, info, target);
    }

    NDArray read(NDManager manager, TensorInfo info, DataType target) {
        long[] shape = info.shape();
        long rows = shape.length == 0 ? 1 : shape[0];
        long rowBytes = rows == 0 ? 0 : info.length() / rows;
        long rowsPerBlock = rowBytes == 0 ? Math.max(rows, 1) : Math.max(1, BLOCK_BYTES / rowBytes);
        NDList blocks = new NDList();
        try {
            for (long row = 0; row < rows || (rows == 0 && blocks.isEmpty()); row += rowsPerBlock) {
                long count = Math.min(rowsPerBlock, rows - row);
                long[] blockShape = shape.clone();
                if (blockShape.length > 0) {
                    blockShape[0] = count;
                }
                blocks.add(readBlock(manager, info, info.offset() + row * rowBytes, count * rowBytes,
                        new Shape(blockShape), target));
                if (rows == 0) {
                    break;
                }
            }
            if (blocks.size() == 1) {
                return blocks.get(0);
            }
            NDArray joined = NDArrays.concat(blocks);
            blocks.close();
            return joined;
        } catch (IOException e) {
            blocks.close();
            throw new CheckpointException("cannot read tensor " + info.name() + " from " + info.file() + ": "
                    + e.getMessage(), e);
        }
    }

    private NDArray readBlock(NDManager manager, TensorInfo info, long offset, long length, Shape shape,
            DataType target) throws IOException {
        if (length == 0) {
            return manager.zeros(shape, target);
        }
        MappedByteBuffer mapped = channel.map(FileChannel.MapMode.READ_ONLY, offset, length);
        mapped.order(ByteOrder.LITTLE_ENDIAN);
        if (info.dtype() == DType.BF16) {
            // DJL cannot hold bf16: widen to float32 in Java first
            int n = (int) (length / 2);
            float[] values = new float[n];
            for (int i = 0; i < n; i++) {
                values[i] = HalfFloats.bf16ToFloat(mapped.getShort(i * 2));
            }
            try (NDArray wide = manager.create(values, shape)) {
                return Tensors.ownedCopy(wide, target);
            }
        }
        // create from the mapped bytes, then copy so nothing keeps pointing into the mapping
        ByteBuffer bytes = ByteBuffer.allocateDirect((int) length).order(ByteOrder.nativeOrder());
        bytes.put(mapped).flip();
        try (NDArray raw = manager.create(bytes, shape, info.dtype().djl())) {
            return Tensors.ownedCopy(raw, target);
        }
    }

    private static void readFully(FileChannel channel, ByteBuffer into, long position) throws IOException {
        long pos = position;
        while (into.hasRemaining()) {
            int n = channel.read(into, pos);
            if (n < 0) {
                throw new IOException("unexpected end of file");
            }
            pos += n;
        }
    }

    private static void closeQuietly(FileChannel channel) {
        if (channel != null) {
            try {
                channel.close();
            } catch (IOException ignored) {
                // the open already failed; the first error is the one to report
            }
        }
    }

    @Override
    public void close() {
        closeQuietly(channel);
    }
}
