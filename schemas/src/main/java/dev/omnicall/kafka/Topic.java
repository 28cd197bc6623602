package dev.omnicall.kafka;

import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;

import java.util.Map;
import java.util.Objects;

/**
 * One topic of the pipeline: its name, its key serde (always the call ID as a UTF-8 string) and the
 * Avro class of its values. The value serde depends on the deployment's {@link SerdeConfig}.
 *
 * @param name       topic name
 * @param valueType  generated Avro class of the values
 * @param compacted  true for table topics (the latest record per call ID is the state)
 * @param retentionMs retention of a delete-policy topic; ignored when compacted
 * @param maxMessageBytes largest record the topic accepts (a 60 s utterance of 16 kHz PCM is 1.9 MB)
 */
public record Topic<V extends SpecificRecord>(String name, Class<V> valueType, boolean compacted, long retentionMs,
                                              int maxMessageBytes) {

    /** Room for a 60 s utterance plus history with some audio: what turn-requests and the context changelog need. */
    public static final int LARGE_RECORD_BYTES = 8 * 1024 * 1024;
    public static final int DEFAULT_RECORD_BYTES = 1024 * 1024;


    public Topic {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(valueType, "valueType");
        if (name.isBlank()) {
            throw new IllegalArgumentException("topic name is blank");
        }
    }

    /** Every topic is keyed by call ID. */
    public Serde<String> keySerde() {
        return Serdes.String();
    }

    /** A configured value serde for this topic, as chosen by {@code config}. */
    public Serde<V> valueSerde(SerdeConfig config) {
        return config.valueSerde(valueType);
    }

    /** Broker-side topic settings used when the topic is created. */
    public Map<String, String> topicConfigs() {
        String max = Integer.toString(maxMessageBytes);
        if (compacted) {
            return Map.of("cleanup.policy", "compact", "min.compaction.lag.ms", "0", "max.message.bytes", max);
        }
        return Map.of("cleanup.policy", "delete", "retention.ms", Long.toString(retentionMs), "max.message.bytes", max);
    }
}
