package dev.omnicall.bridge.kafka;

import dev.omnicall.bridge.BridgeMetrics;
import dev.omnicall.bridge.call.CallEventSink;
import dev.omnicall.events.AudioSegment;
import dev.omnicall.events.CallEvent;
import dev.omnicall.kafka.KafkaSettings;
import dev.omnicall.kafka.SerdeConfig;
import dev.omnicall.kafka.Topic;
import dev.omnicall.kafka.Topics;
import dev.omnicall.kafka.TurnTrace;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;

/**
 * Publishes the bridge's CallEvents and AudioSegments, keyed by call ID, with one idempotent
 * {@code acks=all} producer. Sends never block the media threads; a failed send is counted and logged.
 *
 * <p>The producer is called from one sender thread of its own, fed by a bounded queue: {@code
 * KafkaProducer.send} blocks its caller (up to {@code max.block.ms}, 60 s) whenever it has no metadata for
 * the topic, which happens while a broker restarts (BUG-2 in the reliability suite: RTP receive threads were
 * seen blocked in {@code waitOnMetadata} during a broker outage, and a call was ended by the RTP watchdog).
 * One thread keeps the order of each call's records. Through a broker outage the producer's buffer (32 MB,
 * about 6 k segments) and then the queue hold the audio: about 55 s of 50 calls (BUG-3, {@link #producerConfig}).
 */
public final class KafkaCallEventSink implements CallEventSink, AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(KafkaCallEventSink.class);

    private final Producer<String, byte[]> producer;
    private final Serializer<CallEvent> eventSerializer;
    private final Serializer<AudioSegment> segmentSerializer;
    private final BridgeMetrics metrics;
    private final ExecutorService sender;
    private final ReplyTraces traces;

    /** Records waiting for the sender thread (a 160 ms segment is 5 kB: 8192 are ~40 MB). */
    static final int MAX_QUEUED = 8192;

    public KafkaCallEventSink(KafkaSettings settings, SerdeConfig serde, String clientId, BridgeMetrics metrics) {
        this(settings, serde, clientId, metrics, new ReplyTraces(TurnTrace.RELAY));
    }

    /** With {@code traces} giving the trace headers of end-of-utterance segments and PlaybackStarted events. */
    public KafkaCallEventSink(KafkaSettings settings, SerdeConfig serde, String clientId, BridgeMetrics metrics,
                              ReplyTraces traces) {
        this.traces = traces;
        this.producer = new KafkaProducer<>(producerConfig(settings, clientId), new StringSerializer(), new ByteArraySerializer());
        this.sender = new ThreadPoolExecutor(1, 1, 0, TimeUnit.MILLISECONDS, new LinkedBlockingQueue<>(MAX_QUEUED), r -> {
            Thread t = new Thread(r, clientId + "-kafka-sender");
            t.setDaemon(true);
            return t;
        });
        this.eventSerializer = Topics.CALL_EVENTS.valueSerde(serde).serializer();
        this.segmentSerializer = Topics.CALLER_AUDIO.valueSerde(serde).serializer();
        this.metrics = metrics;
    }

    /**
     * The durable producer of {@link KafkaSettings#producer}, keeping its topic metadata through an outage.
     *
     * <p>BUG-3 of the reliability suite: with Kafka 4's default {@code metadata.recovery.strategy=rebootstrap}, the
     * producer drops its cluster metadata when no broker answers, and every {@code send} then waits in {@code
     * waitOnMetadata} (up to {@code max.block.ms}) until a broker is back: the producer's 32 MB buffer stayed unused and
     * only this sink's queue held the audio (seen 115 ms after a broker SIGKILL; 50 calls lost 3.5 k segments in a 44 s
     * outage). With {@code none} the records go on into the producer's buffer and are sent when the broker returns.
     * {@code kafka.metadata.recovery.strategy} still overrides it (a cluster whose brokers all change address needs
     * rebootstrap).
     */
    static Map<String, Object> producerConfig(KafkaSettings settings, String clientId) {
        Map<String, Object> p = settings.producer(clientId);
        p.putIfAbsent(CommonClientConfigs.METADATA_RECOVERY_STRATEGY_CONFIG, "none");
        return p;
    }

    @Override
    public void callEvent(CallEvent event) {
        send(Topics.CALL_EVENTS, eventSerializer, event.getCallId(), event, () -> traces.callEvent(event));
    }

    @Override
    public void audioSegment(AudioSegment segment) {
        send(Topics.CALLER_AUDIO, segmentSerializer, segment.getCallId(), segment, () -> traces.segment(segment));
    }

    /** {@code headers} is called on the sender thread, off the media threads. */
    private <V extends SpecificRecord> void send(Topic<V> topic, Serializer<V> serializer, String callId, V value,
                                                 Supplier<Headers> headers) {
        byte[] bytes;
        try {
            bytes = serializer.serialize(topic.name(), value);
        } catch (RuntimeException e) {
            metrics.kafkaError("serialize");
            LOG.error("could not serialize a {} for call {}: {}", topic.valueType().getSimpleName(), callId, e.toString());
            return;
        }
        try {
            sender.execute(() -> produce(topic, callId, bytes, traceHeaders(headers)));
        } catch (RejectedExecutionException e) {
            metrics.kafkaError("queue_full");
            LOG.error("dropping a {} for call {}: {} records wait for Kafka already (or the sink is closed)",
                    topic.valueType().getSimpleName(), callId, MAX_QUEUED);
        }
    }

    /** The trace headers; none when making them fails (the record goes out all the same). */
    private static Headers traceHeaders(Supplier<Headers> headers) {
        try {
            return headers.get();
        } catch (RuntimeException e) {
            LOG.warn("no trace context on a record: {}", e.toString());
            return null;
        }
    }

    /** On the sender thread: may block while the producer has no metadata, never a media thread. */
    private void produce(Topic<?> topic, String callId, byte[] bytes, Headers headers) {
        try {
            producer.send(new ProducerRecord<>(topic.name(), null, callId, bytes, headers), (meta, error) -> {
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
