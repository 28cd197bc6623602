package dev.omnicall.kafka;

import dev.omnicall.events.CallEvent;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

@Timeout(value = 120, unit = TimeUnit.SECONDS)
class EmbeddedKafkaIT {

    @Test
    void shouldCreateEveryTopicWithOneSharedPartitionCountAndCarryEvents() throws Exception {
        try (EmbeddedKafka kafka = EmbeddedKafka.start(EmbeddedKafka.Options.forTests().withPartitions(4))) {
            kafka.createTopics();

            try (Admin admin = Admin.create(kafka.settings().admin())) {
                var described = admin.describeTopics(Topics.all().stream().map(Topic::name).toList()).allTopicNames().get();
                assertThat(described).hasSize(Topics.all().size());
                assertThat(described.values()).allSatisfy(d -> assertThat(d.partitions()).hasSize(4));
            }

            List<CallEvent> received = produceAndConsume(kafka, SampleEvents.callStarted("call-7"));
            assertThat(received).containsExactly(SampleEvents.callStarted("call-7"));
        }
    }

    @Test
    void shouldKeepItsDataAcrossARestartOnTheSameDirectory(@TempDir Path dir) throws Exception {
        EmbeddedKafka.Options options = EmbeddedKafka.Options.forTests().withDataDir(dir);
        try (EmbeddedKafka kafka = EmbeddedKafka.start(options)) {
            kafka.createTopics();
            produce(kafka, SampleEvents.callEnded("call-1"));
        }

        try (EmbeddedKafka again = EmbeddedKafka.start(options)) {
            again.createTopics();
            assertThat(consume(again, 1)).containsExactly(SampleEvents.callEnded("call-1"));
        }
    }

    @Test
    void shouldReportAPortClashInWordsWithoutKillingTheJvm() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 0, InetAddress.getByName("127.0.0.1"))) {
            int port = taken.getLocalPort();

            assertThatThrownBy(() -> EmbeddedKafka.start(EmbeddedKafka.Options.forTests().withPorts(port, 0)))
                    .isInstanceOf(EmbeddedKafka.EmbeddedKafkaException.class)
                    .hasMessageContaining("port " + port).hasMessageContaining("already in use");
        }
        // And a broker still starts afterwards in this JVM
        try (EmbeddedKafka kafka = EmbeddedKafka.start(EmbeddedKafka.Options.forTests())) {
            assertThat(kafka.isRunning()).isTrue();
        }
    }

    private static void produce(EmbeddedKafka kafka, CallEvent event) throws Exception {
        SerdeConfig serdes = SerdeConfig.embedded();
        try (var producer = new KafkaProducer<>(kafka.settings().producer("test"), new StringSerializer(),
                Topics.CALL_EVENTS.valueSerde(serdes).serializer())) {
            producer.send(new ProducerRecord<>(Topics.CALL_EVENTS.name(), event.getCallId(), event)).get();
        }
    }

    private static List<CallEvent> consume(EmbeddedKafka kafka, int expected) {
        List<CallEvent> out = new ArrayList<>();
        try (var consumer = new KafkaConsumer<>(kafka.settings().consumer("test-" + System.nanoTime(), "c"),
                new StringDeserializer(), Topics.CALL_EVENTS.valueSerde(SerdeConfig.embedded()).deserializer())) {
            consumer.subscribe(List.of(Topics.CALL_EVENTS.name()));
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (out.size() < expected && System.nanoTime() < deadline) {
                for (ConsumerRecord<String, CallEvent> r : consumer.poll(Duration.ofMillis(200))) {
                    out.add(r.value());
                }
            }
        }
        return out;
    }

    private static List<CallEvent> produceAndConsume(EmbeddedKafka kafka, CallEvent event) throws Exception {
        produce(kafka, event);
        return consume(kafka, 1);
    }
}
