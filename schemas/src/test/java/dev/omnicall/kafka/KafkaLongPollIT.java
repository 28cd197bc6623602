package dev.omnicall.kafka;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 16 (an idle app stays idle) lengthened every consumer's {@code fetch.max.wait.ms}, and the embedded broker's
 * settings changed with it. That is free only if the broker answers a long-poll as soon as there is something to
 * read: for a {@code read_committed} consumer (every OmniCall consumer), when the transaction's commit lands, not when
 * the wait runs out. This test holds the broker to it with a wait far longer than any the app uses.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class KafkaLongPollIT {

    /** The longest wait an OmniCall consumer uses (KafkaSettings.LONG_FETCH_WAIT_MS: the bridge's response-audio). */
    private static final int FETCH_MAX_WAIT_MS = KafkaSettings.LONG_FETCH_WAIT_MS;
    private static final int COMMITS = 12;

    @Test
    void shouldReadACommittedRecordWhenTheCommitLandsNotWhenTheFetchWaitEnds() throws Exception {
        try (EmbeddedKafka kafka = EmbeddedKafka.start(EmbeddedKafka.Options.forTests())) {
            String topic = "long-poll";
            try (Admin admin = Admin.create(kafka.settings().admin())) {
                admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get();
            }
            // Given a read_committed consumer whose fetch the broker may hold for 5 s, polling in its own thread
            Map<String, Object> c = kafka.settings().consumer("long-poll-test", "long-poll-consumer");
            c.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, FETCH_MAX_WAIT_MS);
            Map<String, Long> readAtNanos = new ConcurrentHashMap<>();
            AtomicBoolean reading = new AtomicBoolean(true);
            Thread reader;
            try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(c, new StringDeserializer(), new StringDeserializer())) {
                TopicPartition tp = new TopicPartition(topic, 0);
                consumer.assign(List.of(tp));
                consumer.seekToEnd(List.of(tp));
                consumer.position(tp);
                reader = new Thread(() -> {
                    try {
                        while (reading.get()) {
                            for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofSeconds(10))) {
                                readAtNanos.put(r.value(), System.nanoTime());
                            }
                        }
                    } catch (WakeupException stop) {
                        // the test is over
                    }
                }, "long-poll-reader");
                reader.start();

                // When a transactional producer commits one record at a time, at random moments, so the commits fall
                // anywhere inside the consumer's fetch waits
                Map<String, Object> p = kafka.settings().producer("long-poll-producer");
                p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "long-poll-tx");
                List<Long> committedAtNanos = new ArrayList<>();
                try (KafkaProducer<String, String> producer = new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
                    producer.initTransactions();
                    Thread.sleep(FETCH_MAX_WAIT_MS); // the reader is in its first wait
                    for (int i = 0; i < COMMITS; i++) {
                        Thread.sleep(ThreadLocalRandom.current().nextLong(100, FETCH_MAX_WAIT_MS));
                        producer.beginTransaction();
                        producer.send(new ProducerRecord<>(topic, "k", "r" + i));
                        producer.commitTransaction();
                        committedAtNanos.add(System.nanoTime());
                    }
                }
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                while (readAtNanos.size() < COMMITS && System.nanoTime() < deadline) {
                    Thread.sleep(20);
                }
                reading.set(false);
                consumer.wakeup();
                reader.join(10_000);

                // Then every record was read about when its commit returned: a broker that held the fetch to its end
                // would spread these evenly over 0-5000 ms (median near 2500)
                assertThat(readAtNanos).as("records read").hasSize(COMMITS);
                List<Long> lagMs = new ArrayList<>();
                for (int i = 0; i < COMMITS; i++) {
                    lagMs.add(Math.max(0, (readAtNanos.get("r" + i) - committedAtNanos.get(i)) / 1_000_000));
                }
                List<Long> sorted = lagMs.stream().sorted().toList();
                System.out.printf("commit -> read with fetch.max.wait.ms=%d, ms per commit: %s; median %d, max %d%n",
                        FETCH_MAX_WAIT_MS, lagMs, sorted.get(COMMITS / 2), sorted.get(COMMITS - 1));
                assertThat(sorted.get(COMMITS / 2)).as("median commit -> read, ms").isLessThan(FETCH_MAX_WAIT_MS / 4);
            }
        }
    }
}
