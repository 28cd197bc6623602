package dev.omnicall.worker;

import dev.omnicall.events.AudioChunk;
import dev.omnicall.events.BargeIn;
import dev.omnicall.events.CallEvent;
import dev.omnicall.events.CallerText;
import dev.omnicall.events.ConversationTurn;
import dev.omnicall.events.DeadLetter;
import dev.omnicall.events.TextDelta;
import dev.omnicall.events.TurnRequest;
import dev.omnicall.kafka.EmbeddedKafka;
import dev.omnicall.kafka.SampleEvents;
import dev.omnicall.kafka.SerdeConfig;
import dev.omnicall.kafka.Topic;
import dev.omnicall.kafka.Topics;
import dev.omnicall.model.omni.TinyCheckpointWriter;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BooleanSupplier;

/**
 * Test plumbing around the real broker: a producer of raw and typed records, and a collector that reads
 * response-text, response-audio, caller-text and dead-letters from the beginning into lists (with each record's
 * producer timestamp).
 */
final class WorkerHarness implements AutoCloseable {

    static final long SEED = 20240906L;
    static final SerdeConfig SERDE = SerdeConfig.embedded();

    record Received<V>(V value, long timestampMs, int partition, long offset) {
    }

    final EmbeddedKafka kafka;
    final KafkaProducer<String, byte[]> producer;
    final List<Received<TextDelta>> texts = new CopyOnWriteArrayList<>();
    final List<Received<AudioChunk>> chunks = new CopyOnWriteArrayList<>();
    final List<Received<DeadLetter>> deadLetters = new CopyOnWriteArrayList<>();
    final List<Received<CallerText>> callerTexts = new CopyOnWriteArrayList<>();
    private final AtomicBoolean running = new AtomicBoolean(true);
    private final Thread collector;

    WorkerHarness(int partitions) {
        kafka = EmbeddedKafka.start(EmbeddedKafka.Options.forTests().withPartitions(partitions));
        kafka.createTopics();
        producer = new KafkaProducer<>(kafka.settings().producer("test-producer"), new StringSerializer(),
                new ByteArraySerializer());
        collector = new Thread(this::collect, "test-collector");
        collector.setDaemon(true);
        collector.start();
    }

    static Path tinyCheckpoint() {
        return TinyCheckpointWriter.writeIfAbsent(Paths.get("target", "tiny-checkpoint-" + SEED).toAbsolutePath(), SEED);
    }

    static String newCallId() {
        return "call-" + UUID.randomUUID();
    }

    /** A deterministic 16 kHz test utterance: two tones and a little noise, S16LE. */
    static byte[] utterance(double seconds, long seed) {
        java.util.SplittableRandom r = new java.util.SplittableRandom(seed);
        int n = (int) (seconds * 16000);
        ByteBuffer b = ByteBuffer.allocate(n * 2).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) {
            double t = i / 16000.0;
            double x = 0.3 * Math.sin(2 * Math.PI * 220 * t) + 0.2 * Math.sin(2 * Math.PI * 1375 * t * (1 + t))
                    + 0.02 * r.nextGaussian();
            b.putShort((short) Math.round(x * 32767));
        }
        return b.array();
    }

    static TurnRequest request(String callId, int turnId, byte[] audio, List<ConversationTurn> history) {
        return TurnRequest.newBuilder(SampleEvents.turnRequest(callId)).setTurnId(turnId)
                .setAudio(ByteBuffer.wrap(audio)).setHistory(history)
                .setTimings(SampleEvents.timings()).build();
    }

    static CallEvent bargeIn(String callId, int turnId) {
        return CallEvent.newBuilder(SampleEvents.callStarted(callId))
                .setPayload(BargeIn.newBuilder().setTurnId(turnId).build()).build();
    }

    <V extends SpecificRecord> byte[] bytes(Topic<V> topic, V value) {
        return topic.valueSerde(SERDE).serializer().serialize(topic.name(), value);
    }

    <V extends SpecificRecord> void send(Topic<V> topic, String key, V value) {
        sendRaw(topic, key, bytes(topic, value));
    }

    void sendRaw(Topic<?> topic, String key, byte[] value) {
        try {
            producer.send(new ProducerRecord<>(topic.name(), key, value)).get();
        } catch (InterruptedException | ExecutionException e) {
            throw new IllegalStateException(e);
        }
    }

    List<TextDelta> texts(String callId) {
        return texts.stream().map(Received::value).filter(t -> t.getCallId().toString().equals(callId)).toList();
    }

    List<AudioChunk> chunks(String callId) {
        return chunks.stream().map(Received::value).filter(t -> t.getCallId().toString().equals(callId)).toList();
    }

    List<CallerText> callerTexts(String callId) {
        return callerTexts.stream().map(Received::value).filter(t -> t.getCallId().toString().equals(callId)).toList();
    }

    boolean turnEnded(String callId, int turnId) {
        return texts(callId).stream().anyMatch(t -> t.getTurnId() == turnId && t.getLast());
    }

    boolean audioEnded(String callId, int turnId) {
        return chunks(callId).stream().anyMatch(t -> t.getTurnId() == turnId && t.getLast());
    }

    static void await(String what, Duration timeout, BooleanSupplier condition) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out after " + timeout.toSeconds() + " s waiting for " + what);
            }
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted", e);
            }
        }
    }

    private void collect() {
        Map<String, Object> props = kafka.settings().consumer("test-collector-" + UUID.randomUUID(), "test-collector");
        var textDe = Topics.RESPONSE_TEXT.valueSerde(SERDE).deserializer();
        var audioDe = Topics.RESPONSE_AUDIO.valueSerde(SERDE).deserializer();
        var dlDe = Topics.DEAD_LETTERS.valueSerde(SERDE).deserializer();
        var callerDe = Topics.CALLER_TEXT.valueSerde(SERDE).deserializer();
        try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(props, new StringDeserializer(), new ByteArrayDeserializer())) {
            c.subscribe(List.of(Topics.RESPONSE_TEXT.name(), Topics.RESPONSE_AUDIO.name(), Topics.DEAD_LETTERS.name(),
                    Topics.CALLER_TEXT.name()));
            while (running.get()) {
                for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofMillis(20))) {
                    if (r.topic().equals(Topics.RESPONSE_TEXT.name())) {
                        texts.add(new Received<>(textDe.deserialize(r.topic(), r.value()), r.timestamp(), r.partition(), r.offset()));
                    } else if (r.topic().equals(Topics.RESPONSE_AUDIO.name())) {
                        chunks.add(new Received<>(audioDe.deserialize(r.topic(), r.value()), r.timestamp(), r.partition(), r.offset()));
                    } else if (r.topic().equals(Topics.CALLER_TEXT.name())) {
                        callerTexts.add(new Received<>(callerDe.deserialize(r.topic(), r.value()), r.timestamp(), r.partition(), r.offset()));
                    } else {
                        deadLetters.add(new Received<>(dlDe.deserialize(r.topic(), r.value()), r.timestamp(), r.partition(), r.offset()));
                    }
                }
            }
        } catch (org.apache.kafka.common.errors.InterruptException e) {
            // closing
        }
    }

    @Override
    public void close() {
        running.set(false);
        try {
            collector.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        producer.close(Duration.ofSeconds(5));
        kafka.close();
    }
}
