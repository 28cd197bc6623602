package dev.omnicall.app;

import dev.omnicall.app.boot.OmniCallRuntime;
import dev.omnicall.kafka.Topics;
import dev.omnicall.testbroker.BrokerChoice;
import dev.omnicall.testbroker.TestBrokerCondition;
import dev.omnicall.testbroker.TestBrokerResource;
import io.quarkus.test.common.TestResourceScope;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.net.URI;
import java.net.URL;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.hasItem;
import static org.hamcrest.Matchers.hasKey;
import static org.hamcrest.Matchers.not;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The app as it starts with no Kafka configured: the embedded broker on a random port, topics created,
 * health, metrics, the dashboard page and its SSE stream, all against real Kafka.
 */
@QuarkusTest
@WithTestResource(value = TestBrokerResource.class, scope = TestResourceScope.GLOBAL)
@ExtendWith(TestBrokerCondition.class)
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class OmniCallAppIT {

    @Inject
    OmniCallRuntime runtime;

    @TestHTTPResource("/")
    URL base;

    private static PipelineEvents events;

    private PipelineEvents events() {
        if (events == null) {
            events = new PipelineEvents(runtime);
        }
        return events;
    }

    @AfterAll
    static void closeProducer() {
        if (events != null) {
            events.close();
            events = null;
        }
    }

    @Test
    void shouldStartTheEmbeddedBrokerAndCreateTopicsWhenNoBootstrapServersAreSet() {
        assumeTrue(BrokerChoice.current() == BrokerChoice.EMBEDDED,
                "checks the app's own embedded broker; -Dit.kafka=container gives the app a container instead");
        // Given the test profile sets no kafka.bootstrap.servers
        // When the app has booted
        PipelineEvents.awaitDashboardConsumer(runtime);
        // Then an embedded broker runs on a random port and every start-up step is recorded
        assertThat(runtime.embedded()).hasValueSatisfying(k -> assertThat(k.brokerPort()).isNotEqualTo(9092));
        assertThat(runtime.steps()).extracting(s -> s.name()).contains("broker", "topics", "dashboard consumer", "total");
        given().get("/api/status").then().statusCode(200)
                .body("phase", equalTo("RUNNING"))
                .body("embeddedKafka", equalTo(true));
    }

    @Test
    void shouldReportEveryRoleReadyWhenAllThreeRunOnTheEmbeddedBroker() {
        assumeTrue(BrokerChoice.current() == BrokerChoice.EMBEDDED,
                "checks the app's own embedded broker; -Dit.kafka=container gives the app a container instead");
        // Given the default roles (bridge, worker, streams) on the embedded broker
        PipelineEvents.awaitDashboardConsumer(runtime);
        // When the health endpoints are asked, once the roles have had time to join their groups
        given().get("/q/health/live").then().statusCode(200).body("status", equalTo("UP"));
        await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> given().get("/q/health/ready").then()
                .statusCode(200)
                // Then one check per role is UP, beside Kafka, the start-up sequence and the dashboard consumer
                .body("status", equalTo("UP"))
                .body("checks.find { it.name == 'omnicall-kafka' }.data.embedded", equalTo(true))
                .body("checks.find { it.name == 'omnicall-role-bridge' }.data.detail", containsString("sip:omnicall@127.0.0.1:"))
                .body("checks.find { it.name == 'omnicall-role-worker' }.data.detail", containsString("tiny-model"))
                .body("checks.find { it.name == 'omnicall-role-streams' }.data.state", equalTo("RUNNING"))
                .body("checks.name", org.hamcrest.Matchers.hasItems("omnicall-startup", "omnicall-dashboard")));
        // And the tiny checkpoint was written (the test profile's model dir starts empty)
        assertThat(runtime.steps()).anySatisfy(s -> assertThat(s.name()).isEqualTo("checkpoint"));
    }

    @Test
    void shouldServeTheDashboardPageWithItsScriptWhenTheRootIsRequested() {
        given().get("/").then().statusCode(200).body(containsString("OmniCall dashboard"))
                .body(containsString("dashboard.js"));
        given().get("/dashboard.js").then().statusCode(200).body(containsString("new EventSource(\"api/events\")"));
    }

    @Test
    void shouldStreamAResponseTextEventOverSseWhenAWorkerProducesIt() throws Exception {
        // Given a client connected to the SSE stream
        PipelineEvents.awaitDashboardConsumer(runtime);
        HttpClient client = HttpClient.newHttpClient();
        HttpRequest request = HttpRequest.newBuilder(base.toURI().resolve("api/events"))
                .header("Accept", "text/event-stream").build();
        HttpResponse<Stream<String>> response = client.send(request, HttpResponse.BodyHandlers.ofLines());
        assertThat(response.statusCode()).isEqualTo(200);
        CompletableFuture<String> found = CompletableFuture.supplyAsync(() -> response.body()
                .filter(l -> l.startsWith("data:") && l.contains("call-sse-1")).findFirst().orElse(null));
        // When a TextDelta lands on response-text
        events().text("call-sse-1", 3, 0, 0, "Paris is the capital.", true);
        // Then the stream delivers it as a JSON text event
        String line = found.get(30, TimeUnit.SECONDS);
        assertThat(line).contains("\"type\":\"text\"").contains("\"turnId\":3").contains("Paris is the capital.")
                .contains("\"last\":true");
        response.body().close();
    }

    @Test
    void shouldExposeLatencyHistogramAndDeadLetterCountWhenTurnMetricsAndDeadLettersArrive() {
        // Given a finished turn's metrics and a dead letter on the topics
        events().turnMetrics("call-metrics-1", 1, 640_000, 500_000, 90_000, 30_000, 12_000L, 18_000L);
        // and one from a worker that did not stamp requestConsumedUs (TurnTimings v1): only the combined stage
        events().turnMetrics("call-metrics-old", 1, 640_000, 500_000, 90_000, 30_000, null, null);
        events().deadLetter("call-metrics-1", Topics.CALLER_AUDIO.name(), "deserialize");
        // When Prometheus scrapes /q/metrics
        // Then the first-audio histogram, the stage split and the dead-letter counter show them
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
            String metrics = given().get("/q/metrics").then().statusCode(200).extract().asString();
            assertThat(metrics).contains("omnicall_first_audio_latency_seconds_count")
                    .contains("omnicall_first_audio_latency_seconds_bucket{le=\"0.75\"}")
                    .contains("omnicall_turn_stage_latency_seconds_count{stage=\"vad_wait\"}")
                    .contains("omnicall_turn_stage_latency_seconds_count{stage=\"request_to_worker\"}")
                    .contains("omnicall_turn_stage_latency_seconds_count{stage=\"worker_queue\"}")
                    .contains("omnicall_turn_stage_latency_seconds_count{stage=\"request_to_inference\"}")
                    .contains("omnicall_dead_letters_total{source_topic=\"caller-audio\",stage=\"deserialize\"}")
                    .contains("omnicall_calls_active");
            assertThat(line(metrics, "omnicall_first_audio_latency_seconds_bucket{le=\"0.5\"}")).endsWith(" 0.0");
            assertThat(line(metrics, "omnicall_first_audio_latency_seconds_bucket{le=\"0.75\"}")).doesNotEndWith(" 0.0");
        });
        // And the dashboard snapshot carries the per-turn breakdown in milliseconds
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> given().get("/api/snapshot").then().statusCode(200)
                .body("calls.find { it.callId == 'call-metrics-1' }.turns[0].firstAudioMs", equalTo(640.0f))
                .body("calls.find { it.callId == 'call-metrics-1' }.turns[0].stagesMs.encoder_prefill", equalTo(90.0f))
                // the Kafka hop and the worker queue apart, and not the combined stage as well (no double count)
                .body("calls.find { it.callId == 'call-metrics-1' }.turns[0].stagesMs.request_to_worker", equalTo(12.0f))
                .body("calls.find { it.callId == 'call-metrics-1' }.turns[0].stagesMs.worker_queue", equalTo(18.0f))
                .body("calls.find { it.callId == 'call-metrics-1' }.turns[0].stagesMs", not(hasKey("request_to_inference")))
                // an old record falls back to the combined stage
                .body("calls.find { it.callId == 'call-metrics-old' }.turns[0].stagesMs.request_to_inference", equalTo(30.0f))
                .body("calls.find { it.callId == 'call-metrics-old' }.turns[0].stagesMs", not(hasKey("request_to_worker")))
                .body("calls.find { it.callId == 'call-metrics-old' }.turns[0].stagesMs", not(hasKey("worker_queue")))
                .body("deadLetters.sourceTopic", hasItem("caller-audio")));
    }

    @Test
    void shouldCountAnUnreadableRecordAndKeepStreamingWhenGarbageLandsOnAWatchedTopic() {
        // Given garbage bytes on response-text (not the Confluent wire format)
        events().sendRaw(Topics.RESPONSE_TEXT.name(), "call-garbage-1", new byte[]{9, 9, 9});
        // When a good delta follows
        events().text("call-garbage-1", 1, 0, 0, "still here", true);
        // Then the bad one is counted, the good one is shown
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
            assertThat(given().get("/q/metrics").then().extract().asString())
                    .contains("omnicall_observer_unreadable_total{topic=\"response-text\"}");
            given().get("/api/snapshot").then()
                    .body("calls.find { it.callId == 'call-garbage-1' }.turns[0].text", equalTo("still here"));
        });
    }

    @Test
    void shouldNeverLogTheSipPasswordOrTheKafkaJaasSecretWhenBothAreConfigured() throws Exception {
        // Given the test profile sets omnicall.sip.auth.password and kafka.sasl.jaas.config with secrets
        PipelineEvents.awaitDashboardConsumer(runtime);
        events(); // a producer and its config dump are in the log too
        Path log = Path.of(org.eclipse.microprofile.config.ConfigProvider.getConfig()
                .getValue("quarkus.log.file.path", String.class));
        // When the log of the whole start-up is read
        await().atMost(Duration.ofSeconds(10)).until(() -> Files.exists(log)
                && Files.readString(log).contains("config sip:"));
        String text = Files.readString(log);
        // Then the configuration was logged (so the check means something) but neither secret was
        assertThat(text).contains("password set").contains("sasl.jaas.config=[redacted]");
        assertThat(text).doesNotContain("sip-secret-Xq81").doesNotContain("jaas-secret-Zk42");
    }

    private static String line(String metrics, String prefix) {
        List<String> lines = metrics.lines().filter(l -> l.startsWith(prefix)).toList();
        assertThat(lines).as("metric line %s", prefix).hasSize(1);
        return lines.get(0);
    }
}
