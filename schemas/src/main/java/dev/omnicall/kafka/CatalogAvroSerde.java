package dev.omnicall.kafka;

import org.apache.avro.Schema;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificDatumReader;
import org.apache.avro.specific.SpecificDatumWriter;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serializer;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Avro serde that needs no registry server. Records are framed in the Confluent wire format:
 *
 * <pre>
 *  0        1                 5
 * +--------+--------+--------+--------+--------+------------------+
 * | magic  |       schema id (big-endian int32)  | Avro binary body |
 * |  0x00  |                                     |                  |
 * +--------+--------+--------+--------+--------+------------------+
 * </pre>
 *
 * so a registry-backed consumer reads them once the same ids are registered. Ids come from the
 * {@link SchemaCatalog} in this jar. The reader resolves the writer's released schema against the
 * generated class's schema, so an older writer is read by a newer reader.
 */
public final class CatalogAvroSerde<V extends SpecificRecord> implements Serde<V>, Serializer<V>, Deserializer<V> {

    public static final byte MAGIC = 0x0;
    public static final int HEADER_BYTES = 5;

    private final Class<V> type;
    private final Schema readerSchema;
    private final SchemaCatalog catalog;
    private final int writerId;
    private final SpecificDatumWriter<V> writer;
    private final ConcurrentHashMap<Integer, SpecificDatumReader<V>> readers = new ConcurrentHashMap<>();

    public CatalogAvroSerde(Class<V> type, SchemaCatalog catalog) {
        this.type = type;
        this.catalog = catalog;
        this.readerSchema = SpecificData.get().getSchema(type);
        this.writerId = catalog.idOf(readerSchema);
        if (writerId < 0) {
            throw new IllegalStateException("schema of " + type.getSimpleName() + " is not released in the schema catalog;"
                    + " add schemas/src/main/resources" + SchemaCatalog.ROOT + "released/" + type.getSimpleName()
                    + "/vN.avsc and an id line in catalog.properties");
        }
        this.writer = new SpecificDatumWriter<>(readerSchema);
    }

    public int writerSchemaId() {
        return writerId;
    }

    @Override
    public byte[] serialize(String topic, V data) {
        if (data == null) {
            return null;
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream(256);
        out.write(MAGIC);
        out.write(writerId >>> 24);
        out.write(writerId >>> 16);
        out.write(writerId >>> 8);
        out.write(writerId);
        try {
            BinaryEncoder encoder = EncoderFactory.get().directBinaryEncoder(out, null);
            writer.write(data, encoder);
            encoder.flush();
        } catch (IOException | RuntimeException e) {
            throw new SerializationException("cannot write " + type.getSimpleName() + " for topic " + topic + ": " + e.getMessage(), e);
        }
        return out.toByteArray();
    }

    @Override
    public V deserialize(String topic, byte[] data) {
        if (data == null) {
            return null;
        }
        if (data.length < HEADER_BYTES) {
            throw new SerializationException("record on " + topic + " is " + data.length
                    + " bytes, shorter than the 5-byte wire-format header");
        }
        ByteBuffer buf = ByteBuffer.wrap(data);
        byte magic = buf.get();
        if (magic != MAGIC) {
            throw new SerializationException(String.format(
                    "record on %s starts with magic byte 0x%02x, expected 0x00: not the Confluent wire format", topic, magic));
        }
        int id = buf.getInt();
        SchemaCatalog.Entry entry = catalog.byId(id);
        if (entry == null) {
            throw new SerializationException("record on " + topic + " names schema id " + id
                    + ", which this build's schema catalog does not know");
        }
        if (!entry.recordName().equals(type.getSimpleName())) {
            throw new SerializationException("record on " + topic + " was written as " + entry.recordName() + " v"
                    + entry.version() + " (id " + id + ") but this topic holds " + type.getSimpleName());
        }
        SpecificDatumReader<V> reader = readers.computeIfAbsent(id, k -> new SpecificDatumReader<>(entry.schema(), readerSchema));
        BoundedDecoder decoder = new BoundedDecoder(
                DecoderFactory.get().binaryDecoder(data, HEADER_BYTES, data.length - HEADER_BYTES, null),
                data.length - HEADER_BYTES);
        try {
            V value = reader.read(null, decoder);
            if (!decoder.isEnd()) {
                throw new SerializationException("record on " + topic + " has bytes left after a complete "
                        + type.getSimpleName() + " (schema id " + id + "): corrupt or wrong schema");
            }
            return value;
        } catch (IOException | RuntimeException e) {
            if (e instanceof SerializationException se) {
                throw se;
            }
            throw new SerializationException("corrupt Avro body of " + type.getSimpleName() + " on " + topic
                    + " (schema id " + id + ", " + data.length + " bytes): " + e, e);
        }
    }

    @Override
    public Serializer<V> serializer() {
        return this;
    }

    @Override
    public Deserializer<V> deserializer() {
        return this;
    }

    @Override
    public void configure(java.util.Map<String, ?> configs, boolean isKey) {
        // Nothing to configure: the schema ids come from the catalog.
    }

    @Override
    public void close() {
    }
}
