package dev.omnicall.model.io;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * Writes {@code {topKey: OrderedDict(name -> float32 or float16 tensor), ...extras}} in the torch.save zip
 * format (pickle protocol 2, one storage per tensor, entries stored uncompressed): the way a fairseq
 * vocoder checkpoint is laid out ({@code "generator"}), and openai's Whisper file
 * ({@code {"dims": {...}, "model_state_dict": {...}}}, fp16). {@code torch.load} reads the result;
 * {@link TorchCheckpoint} reads both.
 */
public final class TorchCheckpointWriter {
    private record Tensor(long[] shape, float[] values, DType dtype) {
    }

    private final Map<String, Tensor> tensors = new LinkedHashMap<>();

    public TorchCheckpointWriter put(String name, long[] shape, float[] values) {
        return put(name, shape, values, DType.F32);
    }

    /** A tensor stored as F32 or F16 (values rounded to half precision on write). */
    public TorchCheckpointWriter put(String name, long[] shape, float[] values, DType dtype) {
        if (dtype != DType.F32 && dtype != DType.F16) {
            throw new IllegalArgumentException("tensor " + name + ": only F32 and F16 can be written, not " + dtype);
        }
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        if (n != values.length) {
            throw new IllegalArgumentException("tensor " + name + ": " + values.length + " values for shape "
                    + java.util.Arrays.toString(shape));
        }
        tensors.put(name, new Tensor(shape.clone(), values, dtype));
        return this;
    }

    public void write(Path file, String topKey) throws IOException {
        write(file, topKey, Map.of());
    }

    /**
     * Writes the tensors under topKey and, after it, the extras as further top-level entries; an extra
     * is a String, an integer (Integer/Long) or a Map of those (e.g. Whisper's {@code dims}). A null topKey
     * writes the OrderedDict itself as the top level, as {@code torch.save(module.state_dict())} does.
     */
    public void write(Path file, String topKey, Map<String, ?> extras) throws IOException {
        if (topKey == null && !extras.isEmpty()) {
            throw new IllegalArgumentException("extras need a top-level dict: give a topKey");
        }
        String archive = "archive";
        Files.createDirectories(file.toAbsolutePath().getParent());
        try (ZipOutputStream zip = new ZipOutputStream(Files.newOutputStream(file))) {
            stored(zip, archive + "/data.pkl", pickle(topKey, extras));
            int key = 0;
            for (Tensor t : tensors.values()) {
                ByteBuffer b = ByteBuffer.allocate(t.values.length * t.dtype.bytes()).order(ByteOrder.LITTLE_ENDIAN);
                for (float v : t.values) {
                    if (t.dtype == DType.F16) {
                        b.putShort(HalfFloats.floatToHalf(v));
                    } else {
                        b.putFloat(v);
                    }
                }
                stored(zip, archive + "/data/" + key++, b.array());
            }
            stored(zip, archive + "/version", "3\n".getBytes(StandardCharsets.US_ASCII));
        }
    }

    private static void stored(ZipOutputStream zip, String name, byte[] data) throws IOException {
        ZipEntry e = new ZipEntry(name);
        e.setMethod(ZipEntry.STORED);
        e.setSize(data.length);
        e.setCompressedSize(data.length);
        CRC32 crc = new CRC32();
        crc.update(data);
        e.setCrc(crc.getValue());
        e.setTime(0);
        zip.putNextEntry(e);
        zip.write(data);
        zip.closeEntry();
    }

    private byte[] pickle(String topKey, Map<String, ?> extras) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(new byte[] {(byte) 0x80, 2}); // PROTO 2
        if (topKey != null) {
            out.write('}'); // EMPTY_DICT (the top-level dict)
            string(out, topKey);
        }
        global(out, "collections", "OrderedDict");
        out.write(')');
        out.write('R'); // OrderedDict()
        out.write('(');
        int key = 0;
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            Tensor t = e.getValue();
            string(out, e.getKey());
            global(out, "torch._utils", "_rebuild_tensor_v2");
            out.write('(');
            // persistent id: ('storage', torch.FloatStorage, key, 'cpu', numel)
            out.write('(');
            string(out, "storage");
            global(out, "torch", t.dtype == DType.F16 ? "HalfStorage" : "FloatStorage");
            string(out, Integer.toString(key++));
            string(out, "cpu");
            integer(out, t.values.length);
            out.write('t');
            out.write('Q'); // BINPERSID
            integer(out, 0); // storage offset
            out.write('(');
            for (long d : t.shape) {
                integer(out, d);
            }
            out.write('t');
            out.write('(');
            long stride = 1;
            long[] strides = new long[t.shape.length];
            for (int i = t.shape.length - 1; i >= 0; i--) {
                strides[i] = stride;
                stride *= t.shape[i];
            }
            for (long s : strides) {
                integer(out, s);
            }
            out.write('t');
            out.write(0x89); // requires_grad False
            global(out, "collections", "OrderedDict");
            out.write(')');
            out.write('R'); // backward hooks
            out.write('t');
            out.write('R'); // _rebuild_tensor_v2(...)
        }
        out.write('u'); // SETITEMS into the OrderedDict
        if (topKey != null) {
            out.write('s'); // SETITEM topKey -> OrderedDict
        }
        for (Map.Entry<String, ?> e : extras.entrySet()) {
            string(out, e.getKey());
            value(out, e.getValue());
            out.write('s');
        }
        out.write('.');
        return out.toByteArray();
    }

    private static void value(OutputStream out, Object v) throws IOException {
        if (v instanceof String s) {
            string(out, s);
        } else if (v instanceof Integer || v instanceof Long) {
            integer(out, ((Number) v).longValue());
        } else if (v instanceof Map<?, ?> m) {
            out.write('}');
            for (Map.Entry<?, ?> e : m.entrySet()) {
                string(out, String.valueOf(e.getKey()));
                value(out, e.getValue());
                out.write('s');
            }
        } else {
            throw new IllegalArgumentException("cannot pickle a " + (v == null ? "null" : v.getClass().getSimpleName()));
        }
    }

    private static void global(OutputStream out, String module, String name) throws IOException {
        out.write('c');
        out.write((module + "\n" + name + "\n").getBytes(StandardCharsets.US_ASCII));
    }

    private static void string(OutputStream out, String s) throws IOException {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        out.write('X');
        out.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(b.length).array());
        out.write(b);
    }

    private static void integer(OutputStream out, long v) throws IOException {
        if (v < 0 || v > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("integer out of range for BININT: " + v);
        }
        out.write('J');
        out.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt((int) v).array());
    }
}
