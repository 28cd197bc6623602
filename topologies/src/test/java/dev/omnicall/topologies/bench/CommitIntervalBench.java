package dev.omnicall.topologies.bench;

import dev.omnicall.events.AudioSegment;
import dev.omnicall.events.TurnRequest;
import dev.omnicall.events.TurnTimings;
import dev.omnicall.kafka.EmbeddedKafka;
import dev.omnicall.kafka.SerdeConfig;
import dev.omnicall.kafka.Topics;
import dev.omnicall.topologies.ConversationConfig;
import dev.omnicall.topologies.StreamsRole;
import dev.omnicall.topologies.StreamsSettings;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.KafkaStreams;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.LockSupport;

/**
 * What the Streams commit interval costs a caller: time from the bridge producing the end-of-utterance
 * segment to the TurnRequest being readable by a read_committed worker, for several commit intervals,
 * under exactly-once v2 and at-least-once.
 *
 * <p>Run: {@code ./mvnw -q -pl topologies -am test-compile && ./mvnw -q -pl topologies exec:java
 * -Dexec.classpathScope=test -Dexec.mainClass=dev.omnicall.topologies.bench.CommitIntervalBench}; options
 * {@code -Dbench.intervals=20} (10,20,50,100) and {@code -Dbench.guarantees=eos} (eos,alo).
 */
public final class CommitIntervalBench {

    public static void main(String[] args) throws Exception {
        int turns = args.length > 0 ? Integer.parseInt(args[0]) : 60;
        long[] intervals = java.util.Arrays.stream(System.getProperty("bench.intervals", "10,20,50,100").split(","))
                .map(String::trim).mapToLong(Long::parseLong).toArray();
        String guarantees = System.getProperty("bench.guarantees", "eos,alo");
        StringBuilder kv = new StringBuilder("bench=commit_interval turns=" + turns);
        try (EmbeddedKafka kafka = EmbeddedKafka.start(EmbeddedKafka.Options.forTests().withPartitions(3))) {
            kafka.createTopics();
            Path state = Files.createTempDirectory("omnicall-bench-streams");
            for (boolean eos : new boolean[]{true, false}) {
                if (!guarantees.contains(eos ? "eos" : "alo")) {
                    continue;
                }
                for (long interval : intervals) {
                    String app = "bench-" + (eos ? "eos" : "alo") + "-" + interval;
                    long[] lat = run(kafka, new StreamsSettings(app, state.resolve(app), interval, eos, 1), turns, app);
                    System.out.printf("%-14s commit.interval.ms=%-4d EOU segment -> TurnRequest: p50 %6.1f ms  p99 %6.1f ms (%d turns)%n",
                            eos ? "exactly-once" : "at-least-once", interval, pct(lat, 50) / 1000.0, pct(lat, 99) / 1000.0, lat.length);
                    kv.append(' ').append(eos ? "eos" : "alo").append(interval).append("_p50_us=").append(pct(lat, 50))
                            .append(' ').append(eos ? "eos" : "alo").append(interval).append("_p99_us=").append(pct(lat, 99));
                }
            }
        }
        System.out.println(kv);
    }

    private static long[] run(EmbeddedKafka kafka, StreamsSettings settings, int turns, String tag) {
        SerdeConfig serdes = SerdeConfig.embedded();
        Map<String, Long> sentAt = new ConcurrentHashMap<>();
        List<Long> latencies = new ArrayList<>();
        try (StreamsRole role = new StreamsRole(kafka.settings(), serdes, settings, ConversationConfig.defaults());
             var producer = new KafkaProducer<>(kafka.settings().producer(tag), new StringSerializer(),
                     Topics.CALLER_AUDIO.valueSerde(serdes).serializer());
             var consumer = new KafkaConsumer<>(kafka.settings().consumer(tag + "-reader", tag), new StringDeserializer(),
                     Topics.TURN_REQUESTS.valueSerde(serdes).deserializer())) {
            role.start();
            while (role.state() != KafkaStreams.State.RUNNING) {
                LockSupport.parkNanos(20_000_000L);
            }
            consumer.subscribe(List.of(Topics.TURN_REQUESTS.name()));
            consumer.seekToEnd(List.of());
            while (consumer.assignment().isEmpty()) {
                consumer.poll(Duration.ofMillis(50));
            }
            consumer.seekToEnd(consumer.assignment());
            for (int t = 0; t < turns; t++) {
                String callId = tag + "-call-" + (t % 5);
                for (int seq = 0; seq < 3; seq++) {
                    boolean last = seq == 2;
                    AudioSegment s = AudioSegment.newBuilder().setCallId(callId).setUtteranceId(t).setSeq(seq)
                            .setPcm(ByteBuffer.allocate(3200)).setVoiced(true).setEndOfUtterance(last)
                            .setCaptureStartUs(0L).setCaptureEndUs(0L).setTimings(last ? new TurnTimings() : null).build();
                    if (last) {
                        sentAt.put(callId + "/" + t, System.nanoTime());
                    }
                    producer.send(new ProducerRecord<>(Topics.CALLER_AUDIO.name(), callId, s));
                }
                long until = System.nanoTime() + 150_000_000L;
                while (System.nanoTime() < until) {
                    for (var r : consumer.poll(Duration.ofMillis(5))) {
                        TurnRequest req = r.value();
                        Long sent = sentAt.remove(req.getCallId() + "/" + req.getTurnId());
                        if (sent != null) {
                            latencies.add((System.nanoTime() - sent) / 1000);
                        }
                    }
                }
            }
        }
        long[] out = latencies.stream().mapToLong(Long::longValue).toArray();
        Arrays.sort(out);
        return out;
    }

    private static long pct(long[] sorted, double p) {
        if (sorted.length == 0) {
            return 0;
        }
        int i = (int) Math.ceil(p / 100.0 * sorted.length) - 1;
        return sorted[Math.max(0, Math.min(sorted.length - 1, i))];
    }
}
