package dev.omnicall.reliability.support;

import dev.omnicall.kafka.KafkaSettings;
import dev.omnicall.kafka.SerdeConfig;
import dev.omnicall.kafka.Topic;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

/** Writes records as a role would (same durable producer settings), raw bytes included, and reads group lag. */
public final class Writer implements AutoCloseable {

    private final KafkaProducer<String, byte[]> producer;
    private final KafkaSettings settings;
    private final SerdeConfig serde;

    public Writer(KafkaSettings settings, SerdeConfig serde) {
        this.settings = settings;
        this.serde = serde;
        this.producer = new KafkaProducer<>(settings.producer("reliability-writer"), new StringSerializer(),
                new ByteArraySerializer());
    }

    public <V extends SpecificRecord> byte[] bytes(Topic<V> topic, V value) {
        return topic.valueSerde(serde).serializer().serialize(topic.name(), value);
    }

    public <V extends SpecificRecord> RecordMetadata send(Topic<V> topic, String key, V value) {
        return sendRaw(topic, key, bytes(topic, value));
    }

    /** Sends bytes as they are and waits for the broker's ack; the broker's refusal is thrown. */
    public RecordMetadata sendRaw(Topic<?> topic, String key, byte[] value) {
        try {
            return producer.send(new ProducerRecord<>(topic.name(), key, value)).get(60, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            throw new IllegalStateException("send to " + topic.name() + " failed: " + e.getCause(), e.getCause());
        } catch (Exception e) {
            throw new IllegalStateException("send to " + topic.name() + " failed: " + e, e);
        }
    }

    /**
     * Records of {@code topics} that {@code group} has not committed yet, summed over partitions (a partition
     * the group never committed counts from the start).
     */
    public long lag(String group, List<Topic<?>> topics) {
        try (Admin admin = Admin.create(settings.admin())) {
            Map<TopicPartition, OffsetAndMetadata> committed = admin.listConsumerGroupOffsets(group)
                    .partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS);
            Map<TopicPartition, OffsetSpec> ask = new HashMap<>();
            for (Topic<?> t : topics) {
                admin.describeTopics(List.of(t.name())).allTopicNames().get(30, TimeUnit.SECONDS).get(t.name())
                        .partitions().forEach(p -> ask.put(new TopicPartition(t.name(), p.partition()), OffsetSpec.latest()));
            }
            Map<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> ends = admin.listOffsets(ask).all()
                    .get(30, TimeUnit.SECONDS);
            long lag = 0;
            for (var e : ends.entrySet()) {
                OffsetAndMetadata c = committed.get(e.getKey());
                lag += e.getValue().offset() - (c == null ? 0 : c.offset());
            }
            return lag;
        } catch (Exception e) {
            throw new IllegalStateException("cannot read the lag of group " + group + ": " + e, e);
        }
    }

    @Override
    public void close() {
        producer.close(Duration.ofSeconds(5));
    }
}
