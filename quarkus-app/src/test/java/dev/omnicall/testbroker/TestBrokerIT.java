package dev.omnicall.testbroker;

import dev.omnicall.kafka.Topic;
import dev.omnicall.kafka.Topics;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.opentest4j.TestAbortedException;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/** The seam itself on a real broker: the one -Dit.kafka chooses (embedded unless asked otherwise). */
@Timeout(120)
class TestBrokerIT {

    @TempDir
    Path tmp;

    @Test
    void shouldCreateEveryTopicAndCarryARecordOnTheChosenBroker() throws Exception {
        // Given the chosen broker with the pipeline topics at 2 partitions
        try (TestBroker broker = TestBroker.start(tmp.resolve("kafka"), 2)) {
            assertThat(broker.choice()).isEqualTo(BrokerChoice.current());
            try (Admin admin = Admin.create(broker.settings().admin())) {
                Map<String, TopicDescription> topics = admin.describeTopics(Topics.all().stream().map(Topic::name).toList())
                        .allTopicNames().get();
                assertThat(topics).hasSize(Topics.all().size());
                assertThat(topics.values()).allSatisfy(d -> assertThat(d.partitions()).hasSize(2));
            }
            // When a record is produced to call-events with the project's producer settings
            byte[] value = "seam".getBytes(StandardCharsets.UTF_8);
            try (var producer = new KafkaProducer<>(broker.settings().producer("seam-test"),
                    new ByteArraySerializer(), new ByteArraySerializer())) {
                producer.send(new ProducerRecord<>(Topics.CALL_EVENTS.name(), 1, "call-1".getBytes(StandardCharsets.UTF_8), value)).get();
            }
            // Then a consumer with the project's consumer settings reads it back from that partition
            List<ConsumerRecord<byte[], byte[]>> read = new ArrayList<>();
            try (var consumer = new KafkaConsumer<>(broker.settings().consumer("seam-test", "seam-test"),
                    new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
                consumer.assign(List.of(new TopicPartition(Topics.CALL_EVENTS.name(), 1)));
                consumer.seekToBeginning(consumer.assignment());
                long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
                while (read.isEmpty() && System.nanoTime() < deadline) {
                    consumer.poll(Duration.ofMillis(200)).forEach(read::add);
                }
            }
            assertThat(read).singleElement().satisfies(r -> {
                assertThat(new String(r.key(), StandardCharsets.UTF_8)).isEqualTo("call-1");
                assertThat(r.value()).isEqualTo(value);
            });
        }
    }

    @Test
    void shouldSkipWithTheReasonWhenTheContainerIsAskedForWithoutDocker() {
        // Given no Docker engine (where one runs, the container path is exercised by the test above instead)
        assumeFalse(Docker.available(), "a Docker engine is reachable here");
        String before = System.getProperty(BrokerChoice.PROPERTY);
        System.setProperty(BrokerChoice.PROPERTY, "container");
        try {
            // When a test asks for the container, Then it is skipped (an assumption), not failed, and says why
            assertThatThrownBy(() -> TestBroker.start(tmp.resolve("kafka"), 1))
                    .isInstanceOf(TestAbortedException.class)
                    .hasMessageContaining("it.kafka=container")
                    .hasMessageContaining("no Docker engine");
        } finally {
            if (before == null) {
                System.clearProperty(BrokerChoice.PROPERTY);
            } else {
                System.setProperty(BrokerChoice.PROPERTY, before);
            }
        }
    }
}
