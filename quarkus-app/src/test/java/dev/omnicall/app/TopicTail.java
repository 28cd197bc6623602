package dev.omnicall.app;

import dev.omnicall.app.boot.OmniCallRuntime;
import dev.omnicall.kafka.SerdeConfig;
import dev.omnicall.kafka.Topic;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.stream.Collectors;

/**
 * Reads some topics of the running app from their current ends onwards, on its own thread, and keeps
 * every record (decoded with the embedded serde), so a test can assert on what the roles published
 * after the tail was opened. Records written before {@link #open} are not seen.
 *
 * <p>{@link #readAll} is the other way to read them: everything the topics hold at that moment, read from their
 * beginnings by a consumer that is closed before it returns (no thread that can stall or die unseen in a long test).
 */
final class TopicTail implements AutoCloseable {

    /** One record as read: its topic, key, decoded value, and when this tail received it (epoch microseconds). */
    record Event(String topic, String key, SpecificRecord value, long receivedUs) {
    }

    private final KafkaConsumer<String, byte[]> consumer;
    private final List<Topic<?>> topics;
    private final SerdeConfig serde = SerdeConfig.embedded();
    private final List<Event> events = new CopyOnWriteArrayList<>();
    private final Thread poller;   // null for readAll's snapshot
    private final String scanned;  // readAll's end offsets, for describe()
    private volatile boolean running = true;
    private volatile Throwable failure;
    private volatile long lastPollNanos = System.nanoTime();

    private TopicTail(OmniCallRuntime runtime, List<Topic<?>> topics, boolean snapshot, boolean committedOnly) {
        this.topics = topics;
        String id = "phone-call-tail-" + UUID.randomUUID();
        Map<String, Object> config = runtime.kafka().orElseThrow().consumer(id, id);
        if (!committedOnly) {
            config.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_uncommitted");
        }
        this.consumer = new KafkaConsumer<>(config, new StringDeserializer(), new ByteArrayDeserializer());
        List<TopicPartition> partitions = new ArrayList<>();
        for (Topic<?> t : topics) {
            consumer.partitionsFor(t.name(), Duration.ofSeconds(30))
                    .forEach(p -> partitions.add(new TopicPartition(p.topic(), p.partition())));
        }
        consumer.assign(partitions);
        if (snapshot) {
            this.poller = null;
            this.running = false;
            try {
                this.scanned = readToEnd(partitions);
            } finally {
                consumer.close(Duration.ofSeconds(5));
            }
            return;
        }
        this.scanned = null;
        consumer.seekToEnd(partitions);
        // Resolve the end offsets now, so that records written from here on are all read.
        partitions.forEach(p -> consumer.position(p, Duration.ofSeconds(30)));
        this.poller = new Thread(this::poll, "phone-call-topic-tail");
        poller.setDaemon(true);
        poller.start();
    }

    static TopicTail open(OmniCallRuntime runtime, Topic<?>... topics) {
        return new TopicTail(runtime, List.of(topics), false, true);
    }

    /**
     * A snapshot: every record the topics hold now, from their beginnings up to their end offsets as this consumer
     * sees them (read_committed: the last stable offsets; {@code committedOnly=false}: the high watermarks, open
     * transactions included). Fails when the consumer does not reach those ends within 20 s.
     */
    static TopicTail readAll(OmniCallRuntime runtime, boolean committedOnly, Topic<?>... topics) {
        return new TopicTail(runtime, List.of(topics), true, committedOnly);
    }

    /** Reads from the beginnings to the end offsets taken first; says what the ends were. */
    private String readToEnd(List<TopicPartition> partitions) {
        consumer.seekToBeginning(partitions);
        Map<TopicPartition, Long> ends = consumer.endOffsets(partitions, Duration.ofSeconds(30));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (partitions.stream().anyMatch(p -> consumer.position(p, Duration.ofSeconds(30)) < ends.get(p))) {
            if (System.nanoTime() > deadline) {
                StringBuilder b = new StringBuilder("a consumer reading from the beginning did not reach the end offsets in 20 s:");
                partitions.forEach(p -> b.append(' ').append(p).append(" at ").append(consumer.position(p))
                        .append(" of ").append(ends.get(p)));
                throw new AssertionError(b.toString());
            }
            consumer.poll(Duration.ofMillis(100)).forEach(this::keep);
        }
        return new TreeMap<>(ends.entrySet().stream().collect(Collectors.toMap(e -> e.getKey().toString(), Map.Entry::getValue)))
                .toString();
    }

    private void keep(ConsumerRecord<String, byte[]> r) {
        Topic<?> topic = topics.stream().filter(t -> t.name().equals(r.topic())).findFirst().orElseThrow();
        SpecificRecord value = topic.valueSerde(serde).deserializer().deserialize(r.topic(), r.value());
        events.add(new Event(r.topic(), r.key(), value, dev.omnicall.kafka.Clock.nowMicros()));
    }

    private void poll() {
        try {
            while (running) {
                lastPollNanos = System.nanoTime();
                consumer.poll(Duration.ofMillis(100)).forEach(this::keep);
            }
        } catch (org.apache.kafka.common.errors.WakeupException e) {
            // closing
        } catch (RuntimeException | Error e) {
            failure = e;   // an Error too: the poller must not stop reading without the test hearing of it
        } finally {
            consumer.close(Duration.ofSeconds(5));
        }
    }

    /** For a failure message: records read per topic, ms since the poller's last poll, whether it runs, its failure. */
    String describe() {
        StringBuilder b = new StringBuilder("tail read");
        for (Topic<?> t : topics) {
            b.append(' ').append(t.name()).append('=').append(events.stream().filter(e -> e.topic().equals(t.name())).count());
        }
        if (poller == null) {
            b.append(" (a snapshot to the end offsets ").append(scanned).append(')');
        } else {
            b.append("; last poll ").append((System.nanoTime() - lastPollNanos) / 1_000_000).append(" ms ago; poller ")
                    .append(poller.isAlive() ? "alive" : "dead");
        }
        if (failure != null) {
            b.append("; failed: ").append(failure);
        }
        return b.toString();
    }

    /** The values read so far from {@code topic} that match {@code filter}, in the order read. */
    <V extends SpecificRecord> List<V> values(Topic<V> topic, Predicate<V> filter) {
        if (failure != null) {
            throw new AssertionError("the test consumer failed", failure);
        }
        List<V> out = new ArrayList<>();
        for (Event e : events) {
            if (e.topic().equals(topic.name()) && topic.valueType().isInstance(e.value())) {
                V v = topic.valueType().cast(e.value());
                if (filter.test(v)) {
                    out.add(v);
                }
            }
        }
        return out;
    }

    /**
     * Every record read with key {@code key}, in the order read: "+ms topic Type(turn/attempt)" lines, the time
     * relative to the first one. For a failure message: it shows which record overtook which.
     */
    String timeline(String key) {
        List<Event> mine = events.stream().filter(e -> key.equals(e.key())).toList();
        if (mine.isEmpty()) {
            return "(no records of " + key + ")";
        }
        long t0 = mine.get(0).receivedUs();
        StringBuilder out = new StringBuilder();
        for (Event e : mine) {
            SpecificRecord v = e.value();
            Object payload = v instanceof dev.omnicall.events.CallEvent ce ? ce.getPayload() : v;
            String what = payload.getClass().getSimpleName();
            if (payload instanceof SpecificRecord r && r.getSchema().getField("turnId") != null) {
                what += "(" + r.get(r.getSchema().getField("turnId").pos())
                        + (r.getSchema().getField("attempt") != null ? "/" + r.get(r.getSchema().getField("attempt").pos()) : "") + ")";
            }
            out.append(String.format("%n  +%6d ms %-14s %s", (e.receivedUs() - t0) / 1000, e.topic(), what));
        }
        return out.toString();
    }

    /** When this tail received the first record of {@code topic} matching {@code filter} (epoch microseconds). */
    <V extends SpecificRecord> java.util.OptionalLong receivedUs(Topic<V> topic, Predicate<V> filter) {
        for (Event e : events) {
            if (e.topic().equals(topic.name()) && topic.valueType().isInstance(e.value())
                    && filter.test(topic.valueType().cast(e.value()))) {
                return java.util.OptionalLong.of(e.receivedUs());
            }
        }
        return java.util.OptionalLong.empty();
    }

    @Override
    public void close() throws InterruptedException {
        if (poller == null) {
            return;   // a snapshot closed its consumer when it had read
        }
        running = false;
        consumer.wakeup();
        poller.join(10_000);
    }
}
