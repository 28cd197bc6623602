package dev.omnicall.kafka;

import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.Decoder;
import org.apache.avro.util.Utf8;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * A binary decoder that refuses an array or map block claiming more items than the record has bytes. Avro
 * allocates a block's claimed item count up front ({@code GenericData.Array}), so five bytes on a topic could
 * ask for a 2-billion-slot array and take the consuming JVM down with OutOfMemoryError (found by
 * {@code EventDeserializationFuzzTest} in CI). Every item of every array or map in the OmniCall schemas takes at
 * least one byte, so a count above the record's length is corrupt by construction.
 */
final class BoundedDecoder extends Decoder {

    private final BinaryDecoder in;
    private final long maxItems;

    BoundedDecoder(BinaryDecoder in, int recordBytes) {
        this.in = in;
        this.maxItems = recordBytes;
    }

    /** True when every byte of the record has been read. */
    boolean isEnd() throws IOException {
        return in.isEnd();
    }

    private long bounded(long count, String what) {
        if (count > maxItems || count < -maxItems) {
            throw new CorruptCountException(what + " block claims " + count + " items in a record of " + maxItems
                    + " bytes");
        }
        return count;
    }

    /** A collection count no record of this size can hold. */
    static final class CorruptCountException extends org.apache.avro.AvroRuntimeException {
        CorruptCountException(String message) {
            super(message);
        }
    }

    @Override
    public long readArrayStart() throws IOException {
        return bounded(in.readArrayStart(), "array");
    }

    @Override
    public long arrayNext() throws IOException {
        return bounded(in.arrayNext(), "array");
    }

    @Override
    public long skipArray() throws IOException {
        return bounded(in.skipArray(), "array");
    }

    @Override
    public long readMapStart() throws IOException {
        return bounded(in.readMapStart(), "map");
    }

    @Override
    public long mapNext() throws IOException {
        return bounded(in.mapNext(), "map");
    }

    @Override
    public long skipMap() throws IOException {
        return bounded(in.skipMap(), "map");
    }

    @Override
    public void readNull() throws IOException {
        in.readNull();
    }

    @Override
    public boolean readBoolean() throws IOException {
        return in.readBoolean();
    }

    @Override
    public int readInt() throws IOException {
        return in.readInt();
    }

    @Override
    public long readLong() throws IOException {
        return in.readLong();
    }

    @Override
    public float readFloat() throws IOException {
        return in.readFloat();
    }

    @Override
    public double readDouble() throws IOException {
        return in.readDouble();
    }

    @Override
    public Utf8 readString(Utf8 old) throws IOException {
        return in.readString(old);
    }

    @Override
    public String readString() throws IOException {
        return in.readString();
    }

    @Override
    public void skipString() throws IOException {
        in.skipString();
    }

    @Override
    public ByteBuffer readBytes(ByteBuffer old) throws IOException {
        return in.readBytes(old);
    }

    @Override
    public void skipBytes() throws IOException {
        in.skipBytes();
    }

    @Override
    public void readFixed(byte[] bytes, int start, int length) throws IOException {
        in.readFixed(bytes, start, length);
    }

    @Override
    public void skipFixed(int length) throws IOException {
        in.skipFixed(length);
    }

    @Override
    public int readEnum() throws IOException {
        return in.readEnum();
    }

    @Override
    public int readIndex() throws IOException {
        return in.readIndex();
    }
}
