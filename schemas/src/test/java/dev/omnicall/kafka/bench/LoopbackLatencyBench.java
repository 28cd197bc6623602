package dev.omnicall.kafka.bench;

import dev.omnicall.events.AudioSegment;
import dev.omnicall.kafka.EmbeddedKafka;
import dev.omnicall.kafka.SerdeConfig;
import dev.omnicall.kafka.Topics;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Produce→consume latency on loopback through the embedded broker, with the producer settings every role
 * uses (acks=all, idempotence, linger 0) and the consumer's fetch.max.wait 10 ms. Sends 100 ms caller-audio
 * segments (3.2 kB of PCM) at a call's real pace, from several simulated calls at once.
 *
 * <p>Run: {@code ./mvnw -q -pl schemas test-compile exec:java -Dexec.classpathScope=test
 * -Dexec.mainClass=dev.omnicall.kafka.bench.LoopbackLatencyBench [-Dexec.args="calls seconds"]}
 */
public final class LoopbackLatencyBench {

    public static void main(String[] args) throws Exception {
        int calls = args.length > 0 ? Integer.parseInt(args[0]) : 10;
        int seconds = args.length > 1 ? Integer.parseInt(args[1]) : 20;
        long t0 = System.nanoTime();
        try (EmbeddedKafka kafka = EmbeddedKafka.start(EmbeddedKafka.Options.forTests().withPartitions(6))) {
            long brokerMs = (System.nanoTime() - t0) / 1_000_000;
            long t1 = System.nanoTime();
            kafka.createTopics();
            long topicsMs = (System.nanoTime() - t1) / 1_000_000;
            SerdeConfig serdes = SerdeConfig.embedded();
            Map<String, Long> sentAt = new ConcurrentHashMap<>();
            int total = calls * seconds * 10;
            long[] latenciesUs = new long[total];
            int[] received = {0};
            Map<String, Object> consumerProps = kafka.settings().consumer("bench", "bench");
            try (var producer = new KafkaProducer<>(kafka.settings().producer("bench"), new StringSerializer(),
                    Topics.CALLER_AUDIO.valueSerde(serdes).serializer());
                 var consumer = new KafkaConsumer<>(consumerProps, new StringDeserializer(),
                         Topics.CALLER_AUDIO.valueSerde(serdes).deserializer())) {
                consumer.subscribe(List.of(Topics.CALLER_AUDIO.name()));
                while (consumer.assignment().isEmpty()) {
                    consumer.poll(Duration.ofMillis(50));
                }
                Thread sender = new Thread(() -> {
                    long start = System.nanoTime();
                    for (int tick = 0; tick < seconds * 10; tick++) {
                        long due = start + tick * 100_000_000L;
                        long wait = due - System.nanoTime();
                        if (wait > 0) {
                            java.util.concurrent.locks.LockSupport.parkNanos(wait);
                        }
                        for (int c = 0; c < calls; c++) {
                            String callId = "call-" + c;
                            AudioSegment seg = AudioSegment.newBuilder().setCallId(callId).setUtteranceId(0).setSeq(tick)
                                    .setPcm(ByteBuffer.allocate(3200)).setVoiced(true).setEndOfUtterance(false)
                                    .setCaptureStartUs(0L).setCaptureEndUs(0L).build();
                            sentAt.put(callId + "/" + tick, System.nanoTime());
                            producer.send(new ProducerRecord<>(Topics.CALLER_AUDIO.name(), callId, seg));
                        }
                    }
                });
                sender.start();
                long deadline = System.nanoTime() + Duration.ofSeconds(seconds + 30).toNanos();
                while (received[0] < total && System.nanoTime() < deadline) {
                    for (ConsumerRecord<String, AudioSegment> r : consumer.poll(Duration.ofMillis(100))) {
                        long now = System.nanoTime();
                        Long sent = sentAt.remove(r.key() + "/" + r.value().getSeq());
                        if (sent != null) {
                            latenciesUs[received[0]++] = (now - sent) / 1000;
                        }
                    }
                }
                sender.join();
            }
            long[] got = Arrays.copyOf(latenciesUs, received[0]);
            Arrays.sort(got);
            System.out.printf("embedded broker start: %d ms, topic creation: %d ms%n", brokerMs, topicsMs);
            System.out.printf("records: %d of %d (%d calls x %d s of 100 ms segments, 3.2 kB PCM each)%n",
                    got.length, total, calls, seconds);
            System.out.printf("produce->consume latency: p50 %.2f ms, p99 %.2f ms, max %.2f ms%n",
                    pct(got, 50) / 1000.0, pct(got, 99) / 1000.0, got.length == 0 ? 0 : got[got.length - 1] / 1000.0);
            System.out.printf("bench=loopback_latency calls=%d records=%d lost=%d broker_start_ms=%d topics_ms=%d p50_us=%d p99_us=%d max_us=%d%n",
                    calls, got.length, total - got.length, brokerMs, topicsMs, pct(got, 50), pct(got, 99),
                    got.length == 0 ? 0 : got[got.length - 1]);
        }
    }

    private static long pct(long[] sorted, double p) {
        if (sorted.length == 0) {
            return 0;
        }
        int i = (int) Math.ceil(p / 100.0 * sorted.length) - 1;
        return sorted[Math.max(0, Math.min(sorted.length - 1, i))];
    }
}
