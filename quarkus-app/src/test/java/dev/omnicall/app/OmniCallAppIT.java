package dev.omnicall.app;

import dev.omnicall.app.boot.OmniCallRuntime;
import dev.omnicall.app.config.OmniCallConfig;
import dev.omnicall.app.roles.StreamsRoleService;
import dev.omnicall.topologies.StreamsSettings;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import dev.omnicall.kafka.Topics;
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
import java.util.Map;
import java.util.Properties;
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

/**
 * The app with every role on the test resource's broker ({@link TestBrokerResource}): the streams role on the Kafka
 * Streams extension, health, metrics, the dashboard page and its SSE stream, all against real Kafka. The zero-setup
 * start, the app's own embedded broker, is {@code ZeroSetupIT}'s.
 */
@QuarkusTest
@WithTestResource(value = TestBrokerResource.class, scope = TestResourceScope.GLOBAL)
@ExtendWith(TestBrokerCondition.class)
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class OmniCallAppIT {

    @Inject
    OmniCallRuntime runtime;
    @Inject
    OmniCallConfig config;
    /** The Kafka Streams extension's client and its configuration. */
    @Inject
    KafkaStreams streams;
    @Inject
    StreamsConfig streamsConfig;

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
    void shouldRunTheStreamsRoleOnTheKafkaStreamsExtensionWithTheLibrarysSettings() {
        // Given the settings topologies' StreamsSettings gives the same application, state dir and commit interval
        PipelineEvents.awaitDashboardConsumer(runtime);
        Properties library = new StreamsSettings(StreamsRoleService.APPLICATION_ID, config.streams().stateDir(),
                config.streams().commitIntervalMs(), true, 1).toProperties(runtime.kafka().orElseThrow());
        // When the extension's Streams client runs
        await().atMost(Duration.ofSeconds(60)).until(() -> streams.state() == KafkaStreams.State.RUNNING);
        // Then it was configured from application.properties with every one of them
        Map<String, Object> extension = streamsConfig.originals();
        assertThat(library.stringPropertyNames()).allSatisfy(key -> assertThat(text(extension.get(key)))
                .as("%s of the extension's Streams client", key).isEqualTo(text(library.get(key))));
        // And its two health checks are UP, and Micrometer meters it
        given().get("/q/health/live").then().statusCode(200)
                .body("checks.find { it.name == 'Kafka Streams state health check' }.status", equalTo("UP"))
                .body("checks.find { it.name == 'Kafka Streams state health check' }.data.state", equalTo("RUNNING"));
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> given().get("/q/health/ready").then()
                .body("checks.find { it.name == 'Kafka Streams topics health check' }.status", equalTo("UP")));
        await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> assertThat(given().get("/q/metrics").then().extract()
                .asString()).contains("kafka_stream_thread_"));
    }

    @Test
    void shouldAnswer404ForTheContextOfACallTheStreamsRoleDoesNotHold() {
        // Given the streams role running
        await().atMost(Duration.ofSeconds(60)).until(() -> streams.state() == KafkaStreams.State.RUNNING);
        // When the context of a call that never existed is asked for, Then the store was read and holds none
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> given().get("/api/calls/no-such-call/context").then()
                .statusCode(404).body(containsString("no conversation context for call no-such-call")));
    }

    private static String text(Object value) {
        return value instanceof Class<?> c ? c.getName() : String.valueOf(value);
    }

    @Test
    void shouldReportEveryRoleReadyWhenAllThreeRunOnTheTestBroker() {
        // Given the default roles (bridge, worker, streams) on the test resource's broker
        PipelineEvents.awaitDashboardConsumer(runtime);
        // When the health endpoints are asked, once the roles have had time to join their groups
        given().get("/q/health/live").then().statusCode(200).body("status", equalTo("UP"));
        await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> given().get("/q/health/ready").then()
                .statusCode(200)
                // Then one check per role is UP, beside Kafka, the start-up sequence and the dashboard consumer
                .body("status", equalTo("UP"))
                .body("checks.find { it.name == 'omnicall-kafka' }.data.embedded", equalTo(false))
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
