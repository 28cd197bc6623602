package dev.omnicall.bridge.kafka;

import dev.omnicall.bridge.BridgeMetrics;
import dev.omnicall.events.AudioChunk;
import dev.omnicall.events.TurnTimings;
import dev.omnicall.kafka.EmbeddedKafka;
import dev.omnicall.kafka.KafkaSettings;
import dev.omnicall.kafka.SerdeConfig;
import dev.omnicall.kafka.Topics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The bridge's response-audio consumer asks the broker to hold an empty fetch for
 * {@link KafkaSettings#LONG_FETCH_WAIT_MS} and polls for {@link ResponseAudioConsumer#IDLE_POLL}, so that an idle
 * bridge asks 0.2 times a second (issue 16, idle app). First audio must not pay for it: a chunk written while the
 * fetch is held reaches the handler when it is written, not when the wait ends.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class ResponseAudioLongPollIT {

    private static final int CHUNKS = 10;

    @Test
    void shouldHandAChunkOnWhenItIsWrittenNotWhenTheFetchWaitEnds() throws Exception {
        SerdeConfig serde = SerdeConfig.embedded();
        try (EmbeddedKafka kafka = EmbeddedKafka.start(EmbeddedKafka.Options.forTests().withPartitions(1))) {
            kafka.createTopics();
            // Given the bridge's consumer with its default fetch wait, idle on the response-audio topic's end
            Map<String, Long> handledAtNanos = new ConcurrentHashMap<>();
            try (ResponseAudioConsumer consumer = new ResponseAudioConsumer(kafka.settings(), serde, "long-poll",
                    List.of(0), c -> handledAtNanos.put(c.getCallId(), System.nanoTime()),
                    new BridgeMetrics(new SimpleMeterRegistry()));
                 KafkaProducer<String, byte[]> producer = new KafkaProducer<>(kafka.settings().producer("long-poll-worker"),
                         new StringSerializer(), new ByteArraySerializer())) {
                consumer.start(Duration.ofSeconds(60));
                var serializer = Topics.RESPONSE_AUDIO.valueSerde(serde).serializer();
                Thread.sleep(1000); // its first fetch is held by now

                // When a worker writes chunks at random moments, so they fall anywhere inside the held fetches
                List<Long> writtenAtNanos = new ArrayList<>();
                for (int i = 0; i < CHUNKS; i++) {
                    Thread.sleep(ThreadLocalRandom.current().nextLong(100, KafkaSettings.LONG_FETCH_WAIT_MS));
                    String call = "call-" + i;
                    producer.send(new ProducerRecord<>(Topics.RESPONSE_AUDIO.name(), call,
                            serializer.serialize(Topics.RESPONSE_AUDIO.name(), chunk(call)))).get(30, TimeUnit.SECONDS);
                    writtenAtNanos.add(System.nanoTime());
                }
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (handledAtNanos.size() < CHUNKS && System.nanoTime() < deadline) {
                    Thread.sleep(20);
                }

                // Then each reached the handler about when it was written: a consumer that waited for the held fetch
                // to end would spread them over 0-5000 ms (median near 2500)
                assertThat(handledAtNanos).as("chunks handled").hasSize(CHUNKS);
                List<Long> lagMs = new ArrayList<>();
                for (int i = 0; i < CHUNKS; i++) {
                    lagMs.add(Math.max(0, (handledAtNanos.get("call-" + i) - writtenAtNanos.get(i)) / 1_000_000));
                }
                List<Long> sorted = lagMs.stream().sorted().toList();
                System.out.printf("chunk written -> handled by the bridge, fetch.max.wait.ms=%d, poll %d ms: %s ms; median %d,"
                                + " max %d%n", KafkaSettings.LONG_FETCH_WAIT_MS, ResponseAudioConsumer.IDLE_POLL.toMillis(),
                        lagMs, sorted.get(CHUNKS / 2), sorted.get(CHUNKS - 1));
                assertThat(sorted.get(CHUNKS / 2)).as("median written -> handled, ms")
                        .isLessThan(KafkaSettings.LONG_FETCH_WAIT_MS / 10);
            }
        }
    }

    private static AudioChunk chunk(String call) {
        return AudioChunk.newBuilder().setCallId(call).setTurnId(0).setAttempt(0).setSeq(0).setSampleRate(16000)
                .setPcm(ByteBuffer.allocate(640)).setUnitCount(1).setLast(false).setWorkerId("w")
                .setTimings(TurnTimings.newBuilder().build()).build();
    }
}
