package dev.omnicall.bridge.kafka;

import dev.omnicall.bridge.BridgeMetrics;
import dev.omnicall.bridge.call.CallEventSink;
import dev.omnicall.events.AudioSegment;
import dev.omnicall.events.CallEvent;
import dev.omnicall.kafka.KafkaSettings;
import dev.omnicall.kafka.SerdeConfig;
import dev.omnicall.kafka.Topic;
import dev.omnicall.kafka.Topics;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.List;

/**
 * Publishes the bridge's CallEvents and AudioSegments, keyed by call ID, with one idempotent
 * {@code acks=all} producer. Sends never block the media threads; a failed send is counted and logged.
 */
public final class KafkaCallEventSink implements CallEventSink, AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(KafkaCallEventSink.class);

    private final Producer<String, byte[]> producer;
    private final Serializer<CallEvent> eventSerializer;
    private final Serializer<AudioSegment> segmentSerializer;
    private final BridgeMetrics metrics;

    public KafkaCallEventSink(KafkaSettings settings, SerdeConfig serde, String clientId, BridgeMetrics metrics) {
        this.producer = new KafkaProducer<>(settings.producer(clientId), new StringSerializer(), new ByteArraySerializer());
        this.eventSerializer = Topics.CALL_EVENTS.valueSerde(serde).serializer();
        this.segmentSerializer = Topics.CALLER_AUDIO.valueSerde(serde).serializer();
        this.metrics = metrics;
    }

    @Override
    public void callEvent(CallEvent event) {
        send(Topics.CALL_EVENTS, eventSerializer, event.getCallId(), event);
    }

    @Override
    public void audioSegment(AudioSegment segment) {
        send(Topics.CALLER_AUDIO, segmentSerializer, segment.getCallId(), segment);
    }

    private <V extends SpecificRecord> void send(Topic<V> topic, Serializer<V> serializer, String callId, V value) {
        byte[] bytes;
        try {
            bytes = serializer.serialize(topic.name(), value);
        } catch (RuntimeException e) {
            metrics.kafkaError("serialize");
            LOG.error("could not serialize a {} for call {}: {}", topic.valueType().getSimpleName(), callId, e.toString());
            return;
        }
        try {
            producer.send(new ProducerRecord<>(topic.name(), callId, bytes), (meta, error) -> {
                if (error != null) {
                    metrics.kafkaError("produce");
                    LOG.error("could not publish to {} for call {}: {}", topic.name(), callId, error.toString());
                }
            });
        } catch (RuntimeException e) {
            // buffer full past max.block.ms, or the producer is closed
            metrics.kafkaError("produce");
            LOG.error("could not publish to {} for call {}: {}", topic.name(), callId, e.toString());
        }
    }

    /** The partition count of response-audio, which {@link PartitionAffinity} needs. */
    public int partitionsOf(Topic<?> topic) {
        List<PartitionInfo> infos = producer.partitionsFor(topic.name());
        return infos.size();
    }

    public void flush() {
        producer.flush();
    }

    @Override
    public void close() {
        producer.close(Duration.ofSeconds(10));
    }
}
