package dev.omnicall.app.bench;

import dev.omnicall.events.BargeIn;
import dev.omnicall.events.CallEnded;
import dev.omnicall.events.CallEvent;
import dev.omnicall.events.CallStarted;
import dev.omnicall.events.CallerText;
import dev.omnicall.events.TurnMetrics;
import dev.omnicall.kafka.KafkaSettings;
import dev.omnicall.kafka.SerdeConfig;
import dev.omnicall.kafka.Topics;
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
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Reads {@code call-events}, {@code turn-metrics} and {@code caller-text} from their ends (as positioned when
 * constructed) on its own thread, and keeps what belongs to one round: the calls whose CallStarted comes from a
 * caller whose user part starts with the round's tag, their TurnMetrics records and their CallerText records
 * (each one per call, turn and attempt; a redelivered record is counted once).
 */
final class RoundCollector implements AutoCloseable {

    private final String callerTag;
    private final KafkaConsumer<String, byte[]> consumer;
    private final Deserializer<CallEvent> callEvents;
    private final Deserializer<TurnMetrics> turnMetrics;
    private final Deserializer<CallerText> callerTexts;
    private final Thread thread;
    private final Set<String> calls = new HashSet<>();
    private final Set<String> ended = new HashSet<>();
    private final Map<String, TurnMetrics> metrics = new HashMap<>();
    private final Map<String, CallerText> texts = new HashMap<>();
    private final AtomicInteger bargeIns = new AtomicInteger();
    private final AtomicLong lastMetricsNanos = new AtomicLong(System.nanoTime());
    private final AtomicInteger unreadable = new AtomicInteger();
    private volatile boolean running = true;

    RoundCollector(String bootstrap, String callerTag) {
        this.callerTag = callerTag;
        Map<String, Object> props = KafkaSettings.of(bootstrap).consumer("pipeline-benchmark", "pipeline-benchmark-" + callerTag);
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "latest");
        this.consumer = new KafkaConsumer<>(props, new StringDeserializer(), new ByteArrayDeserializer());
        SerdeConfig serde = SerdeConfig.embedded();
        this.callEvents = Topics.CALL_EVENTS.valueSerde(serde).deserializer();
        this.turnMetrics = Topics.TURN_METRICS.valueSerde(serde).deserializer();
        this.callerTexts = Topics.CALLER_TEXT.valueSerde(serde).deserializer();
        List<TopicPartition> parts = new ArrayList<>();
        for (String topic : List.of(Topics.CALL_EVENTS.name(), Topics.TURN_METRICS.name(), Topics.CALLER_TEXT.name())) {
            consumer.partitionsFor(topic, Duration.ofSeconds(30))
                    .forEach(p -> parts.add(new TopicPartition(p.topic(), p.partition())));
        }
        consumer.assign(parts);
        consumer.seekToEnd(parts);
        parts.forEach(consumer::position); // resolve "end" now, before any caller dials
        this.thread = new Thread(this::run, "bench-collector-" + callerTag);
        thread.setDaemon(true);
        thread.start();
    }

    private void run() {
        try {
            while (running) {
                for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                    try {
                        handle(r);
                    } catch (RuntimeException e) {
                        unreadable.incrementAndGet();
                    }
                }
            }
        } catch (WakeupException e) {
            // closing
        } finally {
            consumer.close(Duration.ofSeconds(5));
        }
    }

    private void handle(ConsumerRecord<String, byte[]> r) {
        if (r.value() == null) {
            return;
        }
        if (r.topic().equals(Topics.CALL_EVENTS.name())) {
            CallEvent e = callEvents.deserialize(r.topic(), r.value());
            synchronized (this) {
                if (e.getPayload() instanceof CallStarted s && s.getFrom().contains(callerTag + "-")) {
                    calls.add(e.getCallId());
                } else if (e.getPayload() instanceof CallEnded) {
                    ended.add(e.getCallId());
                } else if (e.getPayload() instanceof BargeIn && calls.contains(e.getCallId())) {
                    bargeIns.incrementAndGet();
                }
            }
        } else if (r.topic().equals(Topics.CALLER_TEXT.name())) {
            CallerText c = callerTexts.deserialize(r.topic(), r.value());
            synchronized (this) {
                texts.put(c.getCallId() + "/" + c.getTurnId() + "/" + c.getAttempt(), c);
            }
        } else {
            TurnMetrics m = turnMetrics.deserialize(r.topic(), r.value());
            synchronized (this) {
                metrics.put(m.getCallId() + "/" + m.getTurnId() + "/" + m.getAttempt(), m);
            }
            lastMetricsNanos.set(System.nanoTime());
        }
    }

    /** The round's calls seen starting on call-events. */
    synchronized int callsStarted() {
        return calls.size();
    }

    /** How many of the round's calls have ended. */
    synchronized int callsEnded() {
        return (int) calls.stream().filter(ended::contains).count();
    }

    /** The round's TurnMetrics records. */
    synchronized List<TurnMetrics> metrics() {
        return metrics.values().stream().filter(m -> calls.contains(m.getCallId())).toList();
    }

    /** The round's CallerText records (transcription on). */
    synchronized List<CallerText> callerTexts() {
        return texts.values().stream().filter(c -> calls.contains(c.getCallId())).toList();
    }

    int bargeIns() {
        return bargeIns.get();
    }

    int unreadable() {
        return unreadable.get();
    }

    /** Milliseconds since the last turn-metrics record arrived (of any call). */
    long quietMillis() {
        return (System.nanoTime() - lastMetricsNanos.get()) / 1_000_000;
    }

    @Override
    public void close() throws InterruptedException {
        running = false;
        consumer.wakeup();
        thread.join(10_000);
    }
}
