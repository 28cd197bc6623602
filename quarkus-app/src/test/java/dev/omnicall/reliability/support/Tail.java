package dev.omnicall.reliability.support;

import dev.omnicall.events.CallEvent;
import dev.omnicall.events.TextDelta;
import dev.omnicall.kafka.KafkaSettings;
import dev.omnicall.kafka.SerdeConfig;
import dev.omnicall.kafka.Topic;
import dev.omnicall.kafka.Topics;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Predicate;

/**
 * Reads every partition of some topics from the beginning (read_committed, no consumer group) on its own
 * thread and keeps each record with its arrival time: what the assertions of the fault tests look at. The
 * consumer rides out a broker restart like any client.
 */
public final class Tail implements AutoCloseable {

    /** One record as it arrived. */
    public record Seen(String topic, int partition, long offset, String key, byte[] value, long arrivedNanos) {}

    private final List<Seen> seen = new CopyOnWriteArrayList<>();
    private final KafkaConsumer<String, byte[]> consumer;
    private final SerdeConfig serde;
    private final Thread thread;
    private volatile boolean running = true;

    public Tail(KafkaSettings settings, SerdeConfig serde, Topic<?>... topics) {
        this.serde = serde;
        Map<String, Object> props = settings.consumer("unused", "reliability-tail");
        props.remove(ConsumerConfig.GROUP_ID_CONFIG);
        props.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, Topic.LARGE_RECORD_BYTES * 2);
        props.put(ConsumerConfig.FETCH_MAX_BYTES_CONFIG, Topic.LARGE_RECORD_BYTES * 4);
        consumer = new KafkaConsumer<>(props, new StringDeserializer(), new ByteArrayDeserializer());
        List<TopicPartition> parts = new ArrayList<>();
        for (Topic<?> t : topics) {
            consumer.partitionsFor(t.name()).forEach(p -> parts.add(new TopicPartition(t.name(), p.partition())));
        }
        consumer.assign(parts);
        consumer.seekToBeginning(parts);
        thread = new Thread(this::run, "reliability-tail");
        thread.setDaemon(true);
        thread.start();
    }

    private void run() {
        try {
            while (running) {
                for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(20))) {
                    seen.add(new Seen(r.topic(), r.partition(), r.offset(), r.key(), r.value(), System.nanoTime()));
                }
            }
        } catch (WakeupException e) {
            // closing
        } finally {
            consumer.close(Duration.ofSeconds(2));
        }
    }

    public List<Seen> raw(Topic<?> topic) {
        return seen.stream().filter(s -> s.topic().equals(topic.name())).toList();
    }

    /** The decodable values of a topic in arrival order (a poison pill on it is skipped here). */
    public <V extends SpecificRecord> List<V> values(Topic<V> topic) {
        Deserializer<V> de = topic.valueSerde(serde).deserializer();
        List<V> out = new ArrayList<>();
        for (Seen s : raw(topic)) {
            try {
                V v = de.deserialize(topic.name(), s.value());
                if (v != null) {
                    out.add(v);
                }
            } catch (RuntimeException e) {
                // not this test's business: poison pills are looked at through raw()
            }
        }
        return out;
    }

    /** Values with their arrival time. */
    public <V extends SpecificRecord> List<Timed<V>> timed(Topic<V> topic) {
        Deserializer<V> de = topic.valueSerde(serde).deserializer();
        List<Timed<V>> out = new ArrayList<>();
        for (Seen s : raw(topic)) {
            try {
                V v = de.deserialize(topic.name(), s.value());
                if (v != null) {
                    out.add(new Timed<>(v, s.arrivedNanos()));
                }
            } catch (RuntimeException e) {
                // skipped, as in values()
            }
        }
        return out;
    }

    public record Timed<V>(V value, long arrivedNanos) {}

    /** The reply deltas of one call, in arrival order (the tail must read response-text). */
    public List<TextDelta> deltasOf(String callId) {
        return values(Topics.RESPONSE_TEXT).stream().filter(d -> d.getCallId().equals(callId)).toList();
    }

    /** The call events of one call, in arrival order (the tail must read call-events). */
    public List<CallEvent> callEventsOf(String callId) {
        return values(Topics.CALL_EVENTS).stream().filter(e -> e.getCallId().equals(callId)).toList();
    }

    /** Waits for the first value matching {@code p}; fails the test with {@code what} after the timeout. */
    public <V extends SpecificRecord> V await(Topic<V> topic, Predicate<V> p, Duration timeout, String what) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            for (V v : values(topic)) {
                if (p.test(v)) {
                    return v;
                }
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out after " + timeout.toMillis() + " ms waiting for " + what);
            }
            Waits.sleep(20);
        }
    }

    @Override
    public void close() {
        running = false;
        consumer.wakeup();
        try {
            thread.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
