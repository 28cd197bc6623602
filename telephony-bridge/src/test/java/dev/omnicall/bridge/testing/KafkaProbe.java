package dev.omnicall.bridge.testing;

import dev.omnicall.events.AudioChunk;
import dev.omnicall.events.DeadLetter;
import dev.omnicall.events.AudioSegment;
import dev.omnicall.events.CallEvent;
import dev.omnicall.events.TurnTimings;
import dev.omnicall.kafka.KafkaSettings;
import dev.omnicall.kafka.SerdeConfig;
import dev.omnicall.kafka.Topics;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Predicate;

/**
 * Reads call-events and caller-audio from the beginning, as the streams role would, and writes
 * AudioChunks to response-audio, as a worker would.
 */
public final class KafkaProbe implements AutoCloseable {

    public final List<CallEvent> events = new CopyOnWriteArrayList<>();
    public final List<AudioSegment> segments = new CopyOnWriteArrayList<>();
    public final List<DeadLetter> deadLetters = new CopyOnWriteArrayList<>();
    /** Records a test wrote on purpose that no serde reads: where they were and why (the probe keeps reading). */
    public final List<String> unreadable = new CopyOnWriteArrayList<>();
    private final KafkaConsumer<String, byte[]> consumer;
    private final KafkaProducer<String, byte[]> producer;
    private final Deserializer<CallEvent> eventDeserializer;
    private final Deserializer<AudioSegment> segmentDeserializer;
    private final Deserializer<DeadLetter> deadLetterDeserializer;
    private final Serializer<AudioChunk> chunkSerializer;
    private final Thread thread;
    private volatile boolean running = true;
    private volatile long lastPollNanos;
    private volatile Throwable failure;

    public KafkaProbe(KafkaSettings settings, SerdeConfig serde) {
        Map<String, Object> props = settings.consumer("probe", "probe");
        props.remove(ConsumerConfig.GROUP_ID_CONFIG);
        consumer = new KafkaConsumer<>(props, new StringDeserializer(), new ByteArrayDeserializer());
        producer = new KafkaProducer<>(settings.producer("probe-worker"), new StringSerializer(), new ByteArraySerializer());
        eventDeserializer = Topics.CALL_EVENTS.valueSerde(serde).deserializer();
        segmentDeserializer = Topics.CALLER_AUDIO.valueSerde(serde).deserializer();
        deadLetterDeserializer = Topics.DEAD_LETTERS.valueSerde(serde).deserializer();
        chunkSerializer = Topics.RESPONSE_AUDIO.valueSerde(serde).serializer();
        List<TopicPartition> parts = new ArrayList<>();
        for (String topic : List.of(Topics.CALL_EVENTS.name(), Topics.CALLER_AUDIO.name(), Topics.DEAD_LETTERS.name())) {
            consumer.partitionsFor(topic).forEach(p -> parts.add(new TopicPartition(topic, p.partition())));
        }
        consumer.assign(parts);
        consumer.seekToBeginning(parts);
        // resolve the start offsets now, so a test that begins once the probe exists is read from its first record
        parts.forEach(consumer::position);
        thread = new Thread(this::run, "kafka-probe");
        thread.setDaemon(true);
        thread.start();
    }

    private void run() {
        try {
            while (running) {
                var records = consumer.poll(Duration.ofMillis(100));
                lastPollNanos = System.nanoTime();
                for (ConsumerRecord<String, byte[]> r : records) {
                    try {
                        if (r.topic().equals(Topics.CALL_EVENTS.name())) {
                            events.add(eventDeserializer.deserialize(r.topic(), r.value()));
                        } else if (r.topic().equals(Topics.DEAD_LETTERS.name())) {
                            deadLetters.add(deadLetterDeserializer.deserialize(r.topic(), r.value()));
                        } else {
                            segments.add(segmentDeserializer.deserialize(r.topic(), r.value()));
                        }
                    } catch (SerializationException e) {
                        unreadable.add(r.topic() + "-" + r.partition() + "@" + r.offset() + ": " + e.getMessage());
                    }
                }
            }
        } catch (WakeupException e) {
            // closing
        } catch (RuntimeException | Error e) {
            failure = e;
            throw e;
        } finally {
            consumer.close();
        }
    }

    /** For failure messages: what the probe has read, and whether its reader still polls. */
    public String readState() {
        long sincePoll = lastPollNanos == 0 ? -1 : (System.nanoTime() - lastPollNanos) / 1_000_000;
        return "probe read " + events.size() + " call events, " + segments.size() + " segments, " + deadLetters.size()
                + " dead letters; last poll " + (sincePoll < 0 ? "never" : sincePoll + " ms ago")
                + (failure == null ? "" : "; reader died: " + failure);
    }

    /** The first dead letter that matches, waiting up to {@code timeout}. */
    public DeadLetter awaitDeadLetter(Predicate<DeadLetter> filter, Duration timeout) throws InterruptedException {
        long end = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < end) {
            for (DeadLetter d : deadLetters) {
                if (filter.test(d)) {
                    return d;
                }
            }
            Thread.sleep(20);
        }
        throw new AssertionError("no matching dead letter within " + timeout + "; dead letters: " + deadLetters + "; " + readState());
    }

    public List<CallEvent> events(String callId) {
        return events.stream().filter(e -> e.getCallId().equals(callId)).toList();
    }

    public List<AudioSegment> segments(String callId) {
        return segments.stream().filter(s -> s.getCallId().equals(callId)).toList();
    }

    /** Waits for a call event whose payload is of {@code type} and matches {@code filter}. */
    public <T> T awaitEvent(Class<T> type, Predicate<CallEvent> filter, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            for (CallEvent e : events) {
                if (type.isInstance(e.getPayload()) && filter.test(e)) {
                    return type.cast(e.getPayload());
                }
            }
            Thread.sleep(20);
        }
        throw new AssertionError("no " + type.getSimpleName() + " event within " + timeout + "; events: " + events + "; " + readState());
    }

    public CallEvent awaitEventRecord(Class<?> type, Predicate<CallEvent> filter, Duration timeout)
            throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            for (CallEvent e : events) {
                if (type.isInstance(e.getPayload()) && filter.test(e)) {
                    return e;
                }
            }
            Thread.sleep(20);
        }
        throw new AssertionError("no " + type.getSimpleName() + " event within " + timeout + "; events: " + events + "; " + readState());
    }

    /** Sends reply audio for a turn as a worker would: chunkMs pieces of 16 kHz S16LE, the last flagged. */
    public void sendReply(String callId, int turnId, int attempt, byte[] pcm16k, int chunkMs) {
        sendReply(callId, turnId, attempt, pcm16k, chunkMs, -1);
    }

    /**
     * As above; with {@code textCharsPerChunk} >= 0 each chunk says it voices that many more characters of the
     * reply text than the one before (AudioChunk.textChars = (seq + 1) * textCharsPerChunk), else -1.
     */
    public void sendReply(String callId, int turnId, int attempt, byte[] pcm16k, int chunkMs, int textCharsPerChunk) {
        sendReply(callId, turnId, attempt, 16_000, pcm16k, chunkMs, textCharsPerChunk);
    }

    /** As above, for S16LE audio at {@code sampleRate} Hz (AudioChunk.sampleRate). */
    public void sendReply(String callId, int turnId, int attempt, int sampleRate, byte[] pcm, int chunkMs,
                          int textCharsPerChunk) {
        int chunkBytes = 2 * (int) ((long) sampleRate * chunkMs / 1000);
        int seq = 0;
        for (int off = 0; off < pcm.length; off += chunkBytes) {
            int len = Math.min(chunkBytes, pcm.length - off);
            byte[] piece = new byte[len];
            System.arraycopy(pcm, off, piece, 0, len);
            int textChars = textCharsPerChunk < 0 ? -1 : (seq + 1) * textCharsPerChunk;
            AudioChunk chunk = AudioChunk.newBuilder().setCallId(callId).setTurnId(turnId).setAttempt(attempt)
                    .setSeq(seq++).setSampleRate(sampleRate).setPcm(ByteBuffer.wrap(piece)).setUnitCount(len / 640)
                    .setLast(off + len >= pcm.length).setWorkerId("probe").setTimings(TurnTimings.newBuilder().build())
                    .setTextChars(textChars)
                    .build();
            producer.send(new ProducerRecord<>(Topics.RESPONSE_AUDIO.name(), callId,
                    chunkSerializer.serialize(Topics.RESPONSE_AUDIO.name(), chunk)));
        }
        producer.flush();
    }

    /** Writes raw bytes to response-audio (for the dead-letter path). */
    public void sendRaw(String callId, byte[] value) {
        producer.send(new ProducerRecord<>(Topics.RESPONSE_AUDIO.name(), callId, value));
        producer.flush();
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
        producer.close();
    }
}
