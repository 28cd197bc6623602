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
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Publishes the bridge's CallEvents and AudioSegments, keyed by call ID, with one idempotent
 * {@code acks=all} producer. Sends never block the media threads; a failed send is counted and logged.
 *
 * <p>The producer is called from one sender thread of its own, fed by a bounded queue: {@code
 * KafkaProducer.send} blocks its caller (up to {@code max.block.ms}, 60 s) whenever it has no metadata for
 * the topic, which happens while a broker restarts (BUG-2 in the reliability suite: RTP receive threads were
 * seen blocked in {@code waitOnMetadata} during a broker outage, and a call was ended by the RTP watchdog).
 * One thread keeps the order of each call's records; the queue holds about a minute of 20 calls' audio.
 */
public final class KafkaCallEventSink implements CallEventSink, AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(KafkaCallEventSink.class);

    private final Producer<String, byte[]> producer;
    private final Serializer<CallEvent> eventSerializer;
    private final Serializer<AudioSegment> segmentSerializer;
    private final BridgeMetrics metrics;
    private final ExecutorService sender;

    /** Records waiting for the sender thread (a 160 ms segment is 5 kB: 8192 are ~40 MB). */
    static final int MAX_QUEUED = 8192;

    public KafkaCallEventSink(KafkaSettings settings, SerdeConfig serde, String clientId, BridgeMetrics metrics) {
        this.producer = new KafkaProducer<>(settings.producer(clientId), new StringSerializer(), new ByteArraySerializer());
        this.sender = new ThreadPoolExecutor(1, 1, 0, TimeUnit.MILLISECONDS, new LinkedBlockingQueue<>(MAX_QUEUED), r -> {
            Thread t = new Thread(r, clientId + "-kafka-sender");
            t.setDaemon(true);
            return t;
        });
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
            sender.execute(() -> produce(topic, callId, bytes));
        } catch (RejectedExecutionException e) {
            metrics.kafkaError("queue_full");
            LOG.error("dropping a {} for call {}: {} records wait for Kafka already (or the sink is closed)",
                    topic.valueType().getSimpleName(), callId, MAX_QUEUED);
        }
    }

    /** On the sender thread: may block while the producer has no metadata, never a media thread. */
    private void produce(Topic<?> topic, String callId, byte[] bytes) {
        try {
            producer.send(new ProducerRecord<>(topic.name(), callId, bytes), (meta, error) -> {
                if (error != null) {
                    metrics.kafkaError("produce");
                    LOG.error("could not publish to {} for call {}: {}", topic.name(), callId, error.toString());
                }
            });
        } catch (RuntimeException e) {
            // no metadata or buffer full past max.block.ms, or the producer is closed
            metrics.kafkaError("produce");
            LOG.error("could not publish to {} for call {}: {}", topic.name(), callId, e.toString());
        }
    }

    /** The partition count of response-audio, which {@link PartitionAffinity} needs. */
    public int partitionsOf(Topic<?> topic) {
        List<PartitionInfo> infos = producer.partitionsFor(topic.name());
        return infos.size();
    }

    /** Hands every queued record to the producer, then waits until the producer has sent them. */
    public void flush() {
        try {
            sender.submit(() -> { }).get(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException | RejectedExecutionException e) {
            LOG.warn("records still queued for Kafka after 30 s: {}", e.toString());
        }
        producer.flush();
    }

    @Override
    public void close() {
        sender.shutdown();
        try {
            if (!sender.awaitTermination(10, TimeUnit.SECONDS)) {
                LOG.warn("{} records for Kafka dropped at close", sender.shutdownNow().size());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        producer.close(Duration.ofSeconds(10));
    }
}
