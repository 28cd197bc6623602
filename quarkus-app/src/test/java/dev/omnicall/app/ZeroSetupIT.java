package dev.omnicall.app;

import dev.omnicall.app.boot.OmniCallRuntime;
import dev.omnicall.kafka.Topic;
import dev.omnicall.kafka.Topics;
import dev.omnicall.testbroker.TestBrokerResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import jakarta.inject.Inject;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.streams.KafkaStreams;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.equalTo;

/**
 * The zero-setup start with the streams role: no {@code kafka.bootstrap.servers}, so the app starts its own embedded
 * broker and creates the topics, and only then does Quarkus' Kafka Streams extension, pointed at that broker by
 * application.properties, create its client and start Streams. No test broker ({@link TestBrokerResource.OwnBroker}).
 */
@QuarkusTest
@TestProfile(ZeroSetupIT.StreamsOnItsOwnBroker.class)
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class ZeroSetupIT {

    /**
     * The embedded broker on a free port chosen before start-up (the extension's address is configuration), and a
     * Streams state directory of its own: state left by another boot against another broker would be restored.
     */
    public static final class StreamsOnItsOwnBroker implements QuarkusTestProfile, TestBrokerResource.OwnBroker {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("omnicall.roles", "streams", "omnicall.kafka.embedded.port", Integer.toString(freePort()),
                    "omnicall.streams.state-dir", "target/streams-state-zero-setup-" + System.nanoTime());
        }
    }

    @Inject
    OmniCallRuntime runtime;
    @Inject
    KafkaStreams streams;

    @Test
    void shouldStartStreamsOnTheEmbeddedBrokerAfterItsTopicsExistWhenNoBootstrapServersAreSet() throws Exception {
        // Given no kafka.bootstrap.servers and the embedded broker on a known port
        // When the app has booted
        await().atMost(Duration.ofSeconds(200)).until(() -> runtime.phase() == OmniCallRuntime.Phase.RUNNING);
        // Then it started its own broker on that port and created the topics before the streams role ran
        int port = runtime.config().kafka().embedded().port();
        assertThat(port).isNotZero().isNotEqualTo(9092);
        assertThat(runtime.embedded()).hasValueSatisfying(k -> assertThat(k.brokerPort()).isEqualTo(port));
        assertThat(runtime.steps()).extracting(s -> s.name()).containsSubsequence("broker", "topics", "role streams", "total");
        try (Admin admin = Admin.create(runtime.kafka().orElseThrow().admin())) {
            assertThat(admin.listTopics().names().get(30, TimeUnit.SECONDS))
                    .containsAll(Topics.all().stream().map(Topic::name).toList());
        }
        // And the extension's Streams client runs on it, healthy by its own checks and the role's
        await().atMost(Duration.ofSeconds(60)).until(() -> streams.state() == KafkaStreams.State.RUNNING);
        await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> given().get("/q/health/ready").then().statusCode(200)
                .body("checks.find { it.name == 'omnicall-kafka' }.data.embedded", equalTo(true))
                .body("checks.find { it.name == 'omnicall-role-streams' }.data.state", equalTo("RUNNING"))
                .body("checks.find { it.name == 'Kafka Streams topics health check' }.status", equalTo("UP")));
        given().get("/api/status").then().statusCode(200).body("embeddedKafka", equalTo(true));
    }

    private static int freePort() {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
