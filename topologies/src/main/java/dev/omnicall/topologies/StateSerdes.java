package dev.omnicall.topologies;

import org.apache.avro.Schema;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Serdes for state-store values: Avro single-object encoding (a 10-byte header with the schema's
 * fingerprint), so a changelog restored by a newer build is recognised as what it is.
 */
final class StateSerdes {

    private StateSerdes() {
    }

    static <T extends SpecificRecord> Serde<T> singleObject(Class<T> type) {
        Schema schema = SpecificData.get().getSchema(type);
        BinaryMessageEncoder<T> encoder = new BinaryMessageEncoder<>(SpecificData.get(), schema);
        BinaryMessageDecoder<T> decoder = new BinaryMessageDecoder<>(SpecificData.get(), schema);
        return Serdes.serdeFrom(
                (topic, value) -> {
                    if (value == null) {
                        return null;
                    }
                    try {
                        ByteBuffer buf = encoder.encode(value);
                        byte[] out = new byte[buf.remaining()];
                        buf.get(out);
                        return out;
                    } catch (IOException e) {
                        throw new SerializationException("cannot encode " + type.getSimpleName() + " for " + topic, e);
                    }
                },
                (topic, bytes) -> {
                    if (bytes == null) {
                        return null;
                    }
                    try {
                        return decoder.decode(bytes);
                    } catch (IOException | RuntimeException e) {
                        throw new SerializationException("cannot decode " + type.getSimpleName() + " from " + topic, e);
                    }
                });
    }
}
