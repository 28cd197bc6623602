package dev.omnicall.kafka;

import dev.omnicall.events.CallEvent;
import dev.omnicall.kafka.testing.AdminFailures;
import dev.omnicall.kafka.testing.TestTls;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.SaslAuthenticationException;
import org.apache.kafka.common.errors.SslAuthenticationException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
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

    /**
     * Issue 16 (an idle app stays idle): the single-node quorum writes no metadata while nothing happens. Kafka's
     * controller appends a no-op record every 500 ms by default (KIP-835), waking the controller, the raft thread and
     * the broker's metadata publishers for nobody; the embedded broker turns them off.
     */
    @Test
    void shouldWriteNoMetadataRecordsWhileIdle() throws Exception {
        try (EmbeddedKafka kafka = EmbeddedKafka.start(EmbeddedKafka.Options.forTests());
             Admin admin = Admin.create(kafka.settings().admin())) {
            Thread.sleep(1000); // start-up's own records (registration, unfencing) are in
            long before = admin.describeMetadataQuorum().quorumInfo().get().highWatermark();

            Thread.sleep(3000);

            long after = admin.describeMetadataQuorum().quorumInfo().get().highWatermark();
            // no-ops every 500 ms would add about 6; one late start-up record is tolerated
            assertThat(after - before).as("metadata records written in 3 idle seconds").isLessThanOrEqualTo(1);
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

    @Test
    void shouldAuthenticateScramOverTlsWhenStartedWithASaslSslListener(@TempDir Path dir) throws Exception {
        // Given a broker with a SASL_SSL listener beside its PLAINTEXT one, and a client CA truststore
        TestTls tls = TestTls.create(dir.resolve("tls"));
        EmbeddedKafka.Options options = EmbeddedKafka.Options.forTests()
                .withSaslSsl(tls.listener(Map.of("omnicall", "right-pw-1", "other", "other-pw-2")));
        try (EmbeddedKafka kafka = EmbeddedKafka.start(options)) {
            kafka.createTopics();
            String saslSsl = kafka.saslSslBootstrapServers();
            assertThat(kafka.saslSslPort()).isNotIn(kafka.brokerPort(), kafka.controllerPort());

            // When a client configured only through the documented kafka.* keys produces and consumes there
            KafkaSettings good = KafkaSettings.fromProperties(tls.clientProperties(saslSsl, "omnicall", "right-pw-1"));
            produce(good, SampleEvents.callStarted("call-tls"));

            // Then the record comes back over SASL_SSL, and the PLAINTEXT listener still works
            assertThat(consume(good, 1)).containsExactly(SampleEvents.callStarted("call-tls"));
            assertThat(consume(kafka.settings(), 1)).containsExactly(SampleEvents.callStarted("call-tls"));

            // And a wrong password is refused by SCRAM, a client that does not trust the CA fails the TLS handshake
            KafkaSettings wrong = KafkaSettings.fromProperties(tls.clientProperties(saslSsl, "omnicall", "other-pw-2"));
            assertThat(AdminFailures.ofDescribeCluster(wrong)).isInstanceOf(SaslAuthenticationException.class)
                    .hasMessageContaining("SCRAM-SHA-512").hasMessageNotContaining("other-pw-2");
            Map<String, Object> untrusting = new HashMap<>(tls.clientProperties(saslSsl, "omnicall", "right-pw-1"));
            untrusting.keySet().removeIf(k -> k.startsWith("kafka.ssl.truststore"));
            assertThat(AdminFailures.ofDescribeCluster(KafkaSettings.fromProperties(untrusting))).isInstanceOf(SslAuthenticationException.class);
        }
    }

    @Test
    void shouldRefuseASaslSslListenerWhosePasswordStorageToolCannotCarry(@TempDir Path dir) throws Exception {
        // Given a keystore file
        Path keystore = Files.writeString(dir.resolve("ks.p12"), "x");

        // When a SCRAM password holds a character of StorageTool's credential syntax, Then it is refused without echoing it
        assertThatThrownBy(() -> new EmbeddedKafka.SaslSslListener(0, keystore, "ks", Map.of("omnicall", "pw,with]comma")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("'omnicall'")
                .hasMessageNotContaining("pw,with]comma");
        // And the listener's string form, which gets logged, holds no password
        assertThat(new EmbeddedKafka.SaslSslListener(0, keystore, "ks-secret", Map.of("omnicall", "pw-secret")).toString())
                .contains("omnicall").doesNotContain("ks-secret").doesNotContain("pw-secret");
    }

    private static void produce(EmbeddedKafka kafka, CallEvent event) throws Exception {
        produce(kafka.settings(), event);
    }

    private static List<CallEvent> consume(EmbeddedKafka kafka, int expected) {
        return consume(kafka.settings(), expected);
    }

    private static void produce(KafkaSettings settings, CallEvent event) throws Exception {
        SerdeConfig serdes = SerdeConfig.embedded();
        try (var producer = new KafkaProducer<>(settings.producer("test"), new StringSerializer(),
                Topics.CALL_EVENTS.valueSerde(serdes).serializer())) {
            producer.send(new ProducerRecord<>(Topics.CALL_EVENTS.name(), event.getCallId(), event)).get();
        }
    }

    private static List<CallEvent> consume(KafkaSettings settings, int expected) {
        List<CallEvent> out = new ArrayList<>();
        try (var consumer = new KafkaConsumer<>(settings.consumer("test-" + System.nanoTime(), "c"),
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
