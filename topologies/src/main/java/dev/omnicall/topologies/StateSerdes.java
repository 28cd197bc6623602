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
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;

/**
 * Serdes for state-store values: Avro single-object encoding (a 10-byte header with the schema's
 * fingerprint), so a changelog restored by a newer build is recognised as what it is. A state schema that
 * gains fields (with defaults) keeps each earlier version under {@code state/} beside this class, and its
 * serde reads values written with any of them, so a rolling upgrade restores the old changelog.
 */
final class StateSerdes {

    /** ConversationState before TurnNote (caller text, barge-in cut). */
    static final String CONVERSATION_STATE_V1 = "state/ConversationState-v1.avsc";
    /** UtteranceProgress before the trace context (traceparent). */
    static final String UTTERANCE_PROGRESS_V1 = "state/UtteranceProgress-v1.avsc";

    private StateSerdes() {
    }

    static <T extends SpecificRecord> Serde<T> singleObject(Class<T> type, String... earlierSchemas) {
        Schema schema = SpecificData.get().getSchema(type);
        BinaryMessageEncoder<T> encoder = new BinaryMessageEncoder<>(SpecificData.get(), schema);
        BinaryMessageDecoder<T> decoder = new BinaryMessageDecoder<>(SpecificData.get(), schema);
        for (String resource : earlierSchemas) {
            decoder.addSchema(earlierSchema(resource));
        }
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

    private static Schema earlierSchema(String resource) {
        try (InputStream in = StateSerdes.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException("state schema " + resource + " is not on the class path beside "
                        + StateSerdes.class.getName());
            }
            return new Schema.Parser().parse(in);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read state schema " + resource, e);
        }
    }
}
