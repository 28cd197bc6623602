package dev.omnicall.bridge.kafka;

import dev.omnicall.bridge.BridgeMetrics;
import dev.omnicall.events.AudioChunk;
import dev.omnicall.events.DeadLetter;
import dev.omnicall.kafka.DeadLetters;
import dev.omnicall.kafka.KafkaSettings;
import dev.omnicall.kafka.SerdeConfig;
import dev.omnicall.kafka.Topics;
import dev.omnicall.kafka.TurnTrace;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Reads the reply audio of this bridge's calls: the {@link PartitionAffinity#ownedPartitions()} of
 * response-audio, by {@code assign} (no consumer group, no offsets: a chunk that arrives while the
 * bridge is down belongs to a call that ended with it). Starts at the end of each partition. A record
 * that cannot be read goes to the dead-letter topic with its bytes; the loop goes on.
 */
public final class ResponseAudioConsumer implements AutoCloseable {

    /**
     * How long a poll waits when nothing comes. A chunk ends the poll as soon as its fetch returns, so this only sets
     * how often an idle thread goes round for nothing (200 ms until issue 16: 5 times a second); close() wakes it.
     */
    static final Duration IDLE_POLL = Duration.ofSeconds(5);

    private static final Logger LOG = LoggerFactory.getLogger(ResponseAudioConsumer.class);

    private final KafkaConsumer<String, byte[]> consumer;
    private final KafkaProducer<String, byte[]> deadLetterProducer;
    private final Serializer<DeadLetter> deadLetterSerializer;
    private final Deserializer<AudioChunk> chunkDeserializer;
    private final List<TopicPartition> partitions;
    private final Consumer<AudioChunk> handler;
    private final BridgeMetrics metrics;
    private final ReplyTraces traces;
    private final String application;
    private final CountDownLatch assigned = new CountDownLatch(1);
    private final Thread thread;
    private volatile boolean running = true;

    public ResponseAudioConsumer(KafkaSettings settings, SerdeConfig serde, String bridgeId, List<Integer> owned,
                                 Consumer<AudioChunk> handler, BridgeMetrics metrics) {
        this(settings, serde, bridgeId, owned, handler, metrics, new ReplyTraces(TurnTrace.RELAY));
    }

    /** With {@code traces} keeping each attempt's first chunk's trace header until its first RTP packet. */
    public ResponseAudioConsumer(KafkaSettings settings, SerdeConfig serde, String bridgeId, List<Integer> owned,
                                 Consumer<AudioChunk> handler, BridgeMetrics metrics, ReplyTraces traces) {
        this.traces = traces;
        Map<String, Object> props = settings.consumer("unused", "bridge-" + bridgeId + "-response-audio");
        props.remove(ConsumerConfig.GROUP_ID_CONFIG); // assign() without a group: nothing to rebalance or commit
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "latest");
        // assign(): no rebalance whose partitions would wait for the held fetch; a chunk ends the wait at once
        if (!settings.passthrough().containsKey(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG)) {
            props.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, KafkaSettings.LONG_FETCH_WAIT_MS);
        }
        this.consumer = new KafkaConsumer<>(props, new StringDeserializer(), new ByteArrayDeserializer());
        this.deadLetterProducer = new KafkaProducer<>(settings.producer("bridge-" + bridgeId + "-dead-letters"),
                new StringSerializer(), new org.apache.kafka.common.serialization.ByteArraySerializer());
        this.deadLetterSerializer = Topics.DEAD_LETTERS.valueSerde(serde).serializer();
        this.chunkDeserializer = Topics.RESPONSE_AUDIO.valueSerde(serde).deserializer();
        this.partitions = owned.stream().map(p -> new TopicPartition(Topics.RESPONSE_AUDIO.name(), p)).toList();
        this.handler = handler;
        this.metrics = metrics;
        this.application = "bridge-" + bridgeId;
        this.thread = new Thread(this::run, "bridge-" + bridgeId + "-response-audio");
        this.thread.setDaemon(true);
    }

    /** Starts the poll thread and waits until the partitions are assigned and positioned at their ends. */
    public void start(Duration timeout) throws InterruptedException {
        thread.start();
        if (!assigned.await(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            throw new IllegalStateException("response-audio consumer did not reach the partition ends in " + timeout);
        }
    }

    private void run() {
        try {
            consumer.assign(partitions);
            consumer.seekToEnd(partitions);
            for (TopicPartition tp : partitions) {
                consumer.position(tp); // resolve the lazy seek now, so chunks sent after start() are seen
            }
            assigned.countDown();
            while (running) {
                ConsumerRecords<String, byte[]> records = consumer.poll(IDLE_POLL);
                for (ConsumerRecord<String, byte[]> r : records) {
                    handle(r);
                }
            }
        } catch (WakeupException e) {
            if (running) {
                LOG.error("response-audio consumer woken up while running", e);
            }
        } catch (RuntimeException e) {
            LOG.error("response-audio consumer stopped: {}", e.toString(), e);
            metrics.kafkaError("consume");
        } finally {
            consumer.close(Duration.ofSeconds(5));
        }
    }

    private void handle(ConsumerRecord<String, byte[]> r) {
        AudioChunk chunk;
        try {
            chunk = chunkDeserializer.deserialize(r.topic(), r.value());
            if (chunk == null) {
                throw new IllegalArgumentException("null AudioChunk (tombstone) on response-audio");
            }
        } catch (RuntimeException e) {
            deadLetter(r, "deserialize", e);
            return;
        }
        try {
            traces.chunk(r.headers(), chunk);
            handler.accept(chunk);
        } catch (RuntimeException e) {
            deadLetter(r, "bridge", e);
        }
    }

    private void deadLetter(ConsumerRecord<String, byte[]> r, String stage, RuntimeException error) {
        metrics.kafkaError(stage);
        LOG.warn("response-audio {}-{}@{} could not be handled ({}): {}", r.topic(), r.partition(), r.offset(), stage,
                error.toString());
        byte[] key = r.key() == null ? null : r.key().getBytes(java.nio.charset.StandardCharsets.UTF_8);
        DeadLetter dl = DeadLetters.of(r.topic(), r.partition(), r.offset(), key, r.value(), stage, error, application);
        try {
            deadLetterProducer.send(new ProducerRecord<>(Topics.DEAD_LETTERS.name(), DeadLetters.keyOf(key),
                    deadLetterSerializer.serialize(Topics.DEAD_LETTERS.name(), dl)));
        } catch (RuntimeException e) {
            metrics.kafkaError("dead_letter");
            LOG.error("could not write the dead letter: {}", e.toString());
        }
    }

    @Override
    public void close() {
        running = false;
        if (!thread.isAlive() && thread.getState() == Thread.State.NEW) {
            consumer.close(Duration.ofSeconds(5));
            deadLetterProducer.close(Duration.ofSeconds(5));
            return;
        }
        consumer.wakeup();
        try {
            thread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        deadLetterProducer.close(Duration.ofSeconds(5));
    }
}
