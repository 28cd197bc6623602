package dev.omnicall.model.io;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.io.ByteArrayInputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/**
 * Reads a {@code torch.save} file (the zip format of PyTorch >= 1.6) without Python: the zip holds
 * {@code <archive>/data.pkl}, a pickle whose tensors refer by key to raw storages in
 * {@code <archive>/data/<key>}. The unpickler knows the opcode subset torch emits (protocols 2-5);
 * classes other than OrderedDict, tensors and parameters become opaque objects so that the rest of a
 * training checkpoint (optimizer state, args) does not stop the load. Legacy (pre-1.6, tar) files are
 * refused with a message that says how to re-save them.
 *
 * <p>{@link #open(Path, String)} exposes the tensors of one top-level dict entry (fairseq vocoders keep
 * the generator under {@code "generator"}) as a {@link TensorSource}.
 */
public final class TorchCheckpoint implements TensorSource {

    /** A tensor as the pickle describes it: storage, offset and size (contiguous layouts only). */
    public record TensorRef(String storageKey, DType dtype, long storageOffset, long[] size, long[] stride) {
    }

    /** An object of a class this reader does not model, kept so that the pickle stream stays in step. */
    public record Opaque(String className, Object args) {
    }

    private record Global(String module, String name) {
        String qualified() {
            return module + "." + name;
        }
    }

    private record StorageRef(String key, DType dtype) {
    }

    private static final Object MARK = new Object();

    private final Path file;
    private final Map<String, byte[]> storages;
    private final Map<String, TensorRef> tensors;

    private TorchCheckpoint(Path file, Map<String, byte[]> storages, Map<String, TensorRef> tensors) {
        this.file = file;
        this.storages = storages;
        this.tensors = tensors;
    }

    /** Opens the file and exposes the tensors under {@code topKey} (null or empty: the top-level dict). */
    public static TorchCheckpoint open(Path file, String topKey) {
        return open(file, readRoot(file), topKey, name -> true);
    }

    /**
     * The tensors under {@code topKey} of an already unpickled root whose names pass {@code keep}; only
     * the storages those tensors use are read (the Whisper file's decoder half stays on disk).
     */
    public static TorchCheckpoint open(Path file, Map<String, Object> root, String topKey,
            java.util.function.Predicate<String> keep) {
        Object dict = (topKey == null || topKey.isEmpty()) ? root : root.get(topKey);
        if (!(dict instanceof Map<?, ?> map)) {
            throw new CheckpointException(file + " has no dict under key '" + topKey + "' (top-level keys: "
                    + root.keySet() + ")");
        }
        Map<String, TensorRef> tensors = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : map.entrySet()) {
            String name = String.valueOf(e.getKey());
            if (e.getValue() instanceof TensorRef t && keep.test(name)) {
                tensors.put(name, t);
            }
        }
        Set<String> used = new java.util.HashSet<>();
        tensors.values().forEach(t -> used.add(t.storageKey()));
        return new TorchCheckpoint(file, readStorages(file, used), Collections.unmodifiableMap(tensors));
    }

    /** The unpickled top-level object, which torch.save of a dict makes a map. */
    public static Map<String, Object> readRoot(Path file) {
        try (ZipFile zip = new ZipFile(file.toFile())) {
            ZipEntry pkl = zip.stream().filter(e -> e.getName().endsWith("/data.pkl") || e.getName().equals("data.pkl"))
                    .findFirst().orElseThrow(() -> new CheckpointException(file
                            + " is a zip without data.pkl: not a torch.save file"));
            byte[] bytes;
            try (InputStream in = zip.getInputStream(pkl)) {
                bytes = in.readAllBytes();
            }
            Object root = new Unpickler(bytes).load();
            if (!(root instanceof Map<?, ?> map)) {
                throw new CheckpointException(file + " holds a " + describe(root) + ", not a dict of tensors");
            }
            @SuppressWarnings("unchecked")
            Map<String, Object> typed = (Map<String, Object>) map;
            return typed;
        } catch (java.util.zip.ZipException e) {
            throw new CheckpointException(file + " is not a zip: a legacy (pre-1.6) torch.save file? Re-save it "
                    + "once with: python3 -c \"import torch,sys; torch.save(torch.load(sys.argv[1], map_location='cpu'),"
                    + " sys.argv[2])\" IN OUT", e);
        } catch (IOException e) {
            throw new CheckpointException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    private static Map<String, byte[]> readStorages(Path file, Set<String> keys) {
        Map<String, byte[]> storages = new HashMap<>();
        try (ZipFile zip = new ZipFile(file.toFile())) {
            for (ZipEntry e : Collections.list(zip.entries())) {
                String name = e.getName();
                int at = name.lastIndexOf("/data/");
                if (at >= 0 && !e.isDirectory() && keys.contains(name.substring(at + 6))) {
                    try (InputStream in = zip.getInputStream(e)) {
                        storages.put(name.substring(at + 6), in.readAllBytes());
                    }
                }
            }
        } catch (IOException e) {
            throw new CheckpointException("cannot read storages of " + file + ": " + e.getMessage(), e);
        }
        return storages;
    }

    @Override
    public Set<String> names() {
        return tensors.keySet();
    }

    @Override
    public TensorInfo info(String name) {
        TensorRef t = tensors.get(name);
        if (t == null) {
            return null;
        }
        long n = 1;
        for (long d : t.size()) {
            n *= d;
        }
        return new TensorInfo(name, t.dtype(), t.size(), file, t.storageOffset() * t.dtype().bytes(),
                n * t.dtype().bytes());
    }

    @Override
    public NDArray load(NDManager manager, String name, DataType target, long... expectedShape) {
        TensorInfo info = require(name, expectedShape);
        TensorRef t = tensors.get(name);
        long[] contiguous = new long[t.size().length];
        long s = 1;
        for (int i = contiguous.length - 1; i >= 0; i--) {
            contiguous[i] = s;
            s *= t.size()[i];
        }
        for (int i = 0; i < contiguous.length; i++) {
            if (t.size()[i] > 1 && t.stride()[i] != contiguous[i]) {
                throw new CheckpointException("tensor " + name + " in " + file + " has strides "
                        + Arrays.toString(t.stride()) + ": only contiguous tensors are supported");
            }
        }
        byte[] storage = storages.get(t.storageKey());
        if (storage == null || info.offset() + info.length() > storage.length) {
            throw new CheckpointException("tensor " + name + " refers to storage " + t.storageKey()
                    + " which is missing or too short in " + file);
        }
        ByteBuffer bytes = ByteBuffer.wrap(storage, (int) info.offset(), (int) info.length()).slice()
                .order(ByteOrder.LITTLE_ENDIAN);
        Shape shape = new Shape(t.size());
        if (t.dtype() == DType.BF16) {
            float[] values = new float[(int) (info.length() / 2)];
            for (int i = 0; i < values.length; i++) {
                values[i] = HalfFloats.bf16ToFloat(bytes.getShort(i * 2));
            }
            try (NDArray wide = manager.create(values, shape)) {
                return Tensors.ownedCopy(wide, target);
            }
        }
        ByteBuffer direct = ByteBuffer.allocateDirect((int) info.length()).order(ByteOrder.nativeOrder());
        direct.put(bytes).flip();
        try (NDArray raw = manager.create(direct, shape, t.dtype().djl())) {
            return Tensors.ownedCopy(raw, target);
        }
    }

    @Override
    public void close() {
        // everything was read eagerly; nothing is held open
    }

    private static String describe(Object o) {
        return o == null ? "None" : o instanceof Opaque op ? op.className() : o.getClass().getSimpleName();
    }

    private static DType storageDtype(Global g) {
        return switch (g.name()) {
            case "FloatStorage" -> DType.F32;
            case "HalfStorage" -> DType.F16;
            case "BFloat16Storage" -> DType.BF16;
            case "DoubleStorage" -> DType.F64;
            case "LongStorage" -> DType.I64;
            case "IntStorage" -> DType.I32;
            default -> throw new CheckpointException("unsupported storage type " + g.qualified());
        };
    }

    /** The pickle opcode subset used by torch.save, with persistent ids resolved to storages. */
    private static final class Unpickler {
        private final DataInputStream in;
        private final Deque<Object> stack = new ArrayDeque<>();
        private final Map<Integer, Object> memo = new HashMap<>();

        Unpickler(byte[] bytes) {
            this.in = new DataInputStream(new ByteArrayInputStream(bytes));
        }

        Object load() throws IOException {
            while (true) {
                int op = in.read();
                switch (op) {
                    case -1 -> throw new CheckpointException("pickle ended without STOP");
                    case 0x80 -> in.readUnsignedByte(); // PROTO
                    case 0x95 -> in.skipNBytes(8); // FRAME
                    case '.' -> {
                        return stack.pop(); // STOP
                    }
                    case '}' -> stack.push(new LinkedHashMap<Object, Object>());
                    case ']' -> stack.push(new ArrayList<Object>());
                    case ')' -> stack.push(List.of());
                    case '(' -> stack.push(MARK);
                    case 't' -> stack.push(popToMark());
                    case 0x85 -> stack.push(List.of(stack.pop()));
                    case 0x86 -> {
                        Object b = stack.pop();
                        Object a = stack.pop();
                        stack.push(Arrays.asList(a, b));
                    }
                    case 0x87 -> {
                        Object c = stack.pop();
                        Object b = stack.pop();
                        Object a = stack.pop();
                        stack.push(Arrays.asList(a, b, c));
                    }
                    case 'q' -> memo.put(in.readUnsignedByte(), stack.peek());
                    case 'r' -> memo.put(readIntLE(), stack.peek());
                    case 0x94 -> memo.put(memo.size(), stack.peek());
                    case 'h' -> stack.push(memo.get(in.readUnsignedByte()));
                    case 'j' -> stack.push(memo.get(readIntLE()));
                    case 'X' -> stack.push(readString(readIntLE()));
                    case 0x8c -> stack.push(readString(in.readUnsignedByte()));
                    case 0x8d -> stack.push(readString((int) readLongLE()));
                    case 'T' -> stack.push(readString(readIntLE()));
                    case 'U' -> stack.push(readString(in.readUnsignedByte()));
                    case 'B' -> stack.push(in.readNBytes(readIntLE()));
                    case 'C' -> stack.push(in.readNBytes(in.readUnsignedByte()));
                    case 'J' -> stack.push((long) readIntLE());
                    case 'K' -> stack.push((long) in.readUnsignedByte());
                    case 'M' -> stack.push((long) (in.readUnsignedByte() | (in.readUnsignedByte() << 8)));
                    case 0x8a -> stack.push(readLong(in.readUnsignedByte()));
                    case 0x8b -> stack.push(readLong(readIntLE()));
                    case 'G' -> stack.push(in.readDouble());
                    case 'N' -> stack.push(NONE);
                    case 0x88 -> stack.push(Boolean.TRUE);
                    case 0x89 -> stack.push(Boolean.FALSE);
                    case 'c' -> stack.push(new Global(readLine(), readLine()));
                    case 0x93 -> {
                        String name = (String) stack.pop();
                        String module = (String) stack.pop();
                        stack.push(new Global(module, name));
                    }
                    case 'R' -> {
                        Object args = stack.pop();
                        Object callable = stack.pop();
                        stack.push(reduce(callable, (List<?>) args));
                    }
                    case 0x81 -> {
                        Object args = stack.pop();
                        Object cls = stack.pop();
                        stack.push(new Opaque(cls instanceof Global g ? g.qualified() : "?", args));
                    }
                    case 0x92 -> {
                        Object kwargs = stack.pop();
                        Object args = stack.pop();
                        Object cls = stack.pop();
                        stack.push(new Opaque(cls instanceof Global g ? g.qualified() : "?", List.of(args, kwargs)));
                    }
                    case 'b' -> build();
                    case 's' -> {
                        Object value = stack.pop();
                        Object key = stack.pop();
                        asMap(stack.peek()).put(key, unwrapNone(value));
                    }
                    case 'u' -> {
                        List<Object> items = popToMark();
                        Map<Object, Object> map = asMap(stack.peek());
                        for (int i = 0; i + 1 < items.size(); i += 2) {
                            map.put(items.get(i), unwrapNone(items.get(i + 1)));
                        }
                    }
                    case 'a' -> {
                        Object value = stack.pop();
                        asList(stack.peek()).add(value);
                    }
                    case 'e' -> {
                        List<Object> items = popToMark();
                        asList(stack.peek()).addAll(items);
                    }
                    case 0x8f -> stack.push(new ArrayList<Object>());
                    case 0x90 -> {
                        List<Object> items = popToMark();
                        asList(stack.peek()).addAll(items);
                    }
                    case 0x91 -> stack.push(popToMark());
                    case 'Q' -> stack.push(persistentLoad(stack.pop()));
                    case '0' -> stack.pop();
                    case '1' -> popToMark();
                    case '2' -> stack.push(stack.peek());
                    default -> throw new CheckpointException(String.format(
                            "unsupported pickle opcode 0x%02x in torch checkpoint", op));
                }
            }
        }

        private static final Object NONE = new Object() {
            @Override
            public String toString() {
                return "None";
            }
        };

        private static Object unwrapNone(Object o) {
            return o == NONE ? null : o;
        }

        private Object reduce(Object callable, List<?> args) {
            if (!(callable instanceof Global g)) {
                return new Opaque("?", args);
            }
            switch (g.qualified()) {
                case "collections.OrderedDict":
                    return new LinkedHashMap<Object, Object>();
                case "torch._utils._rebuild_tensor_v2":
                case "torch._utils._rebuild_tensor": {
                    StorageRef storage = (StorageRef) args.get(0);
                    long offset = ((Number) args.get(1)).longValue();
                    long[] size = longs((List<?>) args.get(2));
                    long[] stride = longs((List<?>) args.get(3));
                    return new TensorRef(storage.key(), storage.dtype(), offset, size, stride);
                }
                case "torch._utils._rebuild_parameter":
                    return args.get(0);
                default:
                    return new Opaque(g.qualified(), args);
            }
        }

        private void build() {
            Object state = stack.pop();
            Object target = stack.peek();
            if (target instanceof Map<?, ?> && state instanceof Map<?, ?> s) {
                asMap(target).putAll(s);
            }
            // other objects: the state is irrelevant to reading tensors
        }

        private Object persistentLoad(Object pid) {
            List<?> tuple = (List<?>) pid;
            if (tuple.isEmpty() || !"storage".equals(tuple.get(0))) {
                throw new CheckpointException("unsupported persistent id " + tuple);
            }
            Global type = (Global) tuple.get(1);
            return new StorageRef(String.valueOf(tuple.get(2)), storageDtype(type));
        }

        private List<Object> popToMark() {
            List<Object> items = new ArrayList<>();
            while (true) {
                if (stack.isEmpty()) {
                    throw new CheckpointException("pickle stack has no MARK");
                }
                Object o = stack.pop();
                if (o == MARK) {
                    break;
                }
                items.add(o);
            }
            Collections.reverse(items);
            return items;
        }

        @SuppressWarnings("unchecked")
        private static Map<Object, Object> asMap(Object o) {
            if (o instanceof Map<?, ?>) {
                return (Map<Object, Object>) o;
            }
            throw new CheckpointException("pickle sets an item on a " + describe(o) + ", not a dict");
        }

        @SuppressWarnings("unchecked")
        private static List<Object> asList(Object o) {
            if (o instanceof ArrayList<?>) {
                return (List<Object>) o;
            }
            throw new CheckpointException("pickle appends to a " + describe(o) + ", not a list");
        }

        private static long[] longs(List<?> list) {
            long[] out = new long[list.size()];
            for (int i = 0; i < out.length; i++) {
                out[i] = ((Number) list.get(i)).longValue();
            }
            return out;
        }

        private int readIntLE() throws IOException {
            return Integer.reverseBytes(in.readInt());
        }

        private long readLongLE() throws IOException {
            return Long.reverseBytes(in.readLong());
        }

        private Object readLong(int n) throws IOException {
            byte[] b = in.readNBytes(n);
            if (n == 0) {
                return 0L;
            }
            byte[] be = new byte[n];
            for (int i = 0; i < n; i++) {
                be[i] = b[n - 1 - i];
            }
            return new java.math.BigInteger(be).longValue();
        }

        private String readString(int n) throws IOException {
            return new String(in.readNBytes(n), StandardCharsets.UTF_8);
        }

        private String readLine() throws IOException {
            StringBuilder sb = new StringBuilder();
            int c;
            while ((c = in.read()) != '\n') {
                if (c < 0) {
                    throw new CheckpointException("pickle GLOBAL cut short");
                }
                sb.append((char) c);
            }
            return sb.toString();
        }
    }
}
