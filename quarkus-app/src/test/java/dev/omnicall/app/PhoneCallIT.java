package dev.omnicall.app;

import dev.omnicall.app.boot.OmniCallRuntime;
import dev.omnicall.app.roles.BridgeRoleService;
import dev.omnicall.app.config.Role;
import dev.omnicall.events.CallEnded;
import dev.omnicall.events.CallEvent;
import dev.omnicall.events.CallStarted;
import dev.omnicall.events.TurnMetrics;
import dev.omnicall.events.TurnRequest;
import dev.omnicall.events.TurnTimings;
import dev.omnicall.kafka.Topics;
import dev.omnicall.testbroker.TestBrokerCondition;
import dev.omnicall.testbroker.TestBrokerResource;
import dev.omnicall.topologies.ConversationTopology;
import io.quarkus.test.common.TestResourceScope;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StoreQueryParameters;
import org.apache.kafka.streams.state.QueryableStoreTypes;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.equalTo;

/**
 * The whole system on one phone call: {@code bin/call} dials the app's bridge with baresip (a real SIP
 * caller, digest auth as the test profile requires), speaks two espeak-ng sentences with a pause between
 * them and records the reply. In between: bridge (VAD, caller-audio) → streams (TurnRequest with history) →
 * worker (tiny checkpoint on CPU) → response-audio → bridge (RTP). The reply is random-weight noise, but it
 * must arrive; the turn's latency split must reach turn-metrics (every stage's stamp), the dashboard and
 * /q/metrics; the second turn must carry the first in its history; and the caller's hang-up must publish
 * CallEnded and clear the call's conversation context down to its text (kept for the ended-call grace, then
 * released), which held it while the call was up.
 */
@QuarkusTest
@WithTestResource(value = TestBrokerResource.class, scope = TestResourceScope.GLOBAL)
@ExtendWith(TestBrokerCondition.class)
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class PhoneCallIT {

    private static final Path CALL_SCRIPT = Path.of("..", "bin", "call");
    private static final String CALLER = "sip:tester@127.0.0.1";

    @Inject
    OmniCallRuntime runtime;
    @Inject
    KafkaStreams streams;

    @Test
    void shouldPlayRepliesCarryHistoryAndClearTheContextWhenARealSipCallerSpeaksTwiceAndHangsUp() throws Exception {
        // Given the app with every role running
        PipelineEvents.awaitDashboardConsumer(runtime);
        BridgeRoleService bridge = (BridgeRoleService) runtime.roles().get(Role.BRIDGE);
        await().atMost(Duration.ofSeconds(60)).until(() -> bridge.sipUri() != null);
        Path reply = Path.of("target", "phone-call-reply.wav").toAbsolutePath();
        Files.deleteIfExists(reply);

        ReadOnlyKeyValueStore<String, Object> context = contextStore();
        Path speech = BaresipCaller.twoUtterances(Path.of("target", "phone-call-speech").toAbsolutePath(),
                "Hello, what is the capital of France?", "And how many people live there?");
        try (TopicTail tail = TopicTail.open(runtime, Topics.CALL_EVENTS, Topics.TURN_REQUESTS, Topics.TURN_METRICS)) {

            // When a caller says one sentence, waits 7 s (the reply plays, or is barged into), says a second
            // one, listens, and hangs up
            Path callLog = Path.of("target", "phone-call-bin-call.log").toAbsolutePath();
            Process call = new ProcessBuilder(CALL_SCRIPT.toString(), "--to", bridge.sipUri(),
                    "--user", "tester", "--password", "sip-secret-Xq81",
                    "--wav", speech.toString(), "--listen", "10", "--out", reply.toString())
                    .redirectErrorStream(true).redirectOutput(callLog.toFile()).start();

            // Then, while the call is up, Prometheus shows the caller's RTP jitter over the live calls
            AssertionError notYet = new AssertionError("bin/call ended before /q/metrics was read");
            boolean shown = false;
            while (!shown && call.isAlive()) {
                String live = given().get("/q/metrics").then().extract().asString();
                String rtp = live.lines().filter(l -> l.startsWith("omnicall_rtp_") || l.startsWith("omnicall_bridge_calls_live"))
                        .collect(java.util.stream.Collectors.joining("\n"));
                try {
                    assertThat(counter(live, "omnicall_bridge_calls_live")).as(rtp).isEqualTo(1);
                    assertThat(counter(live, "omnicall_rtp_packets_received_total")).as(rtp).isGreaterThan(50);
                    assertThat(gauge(live, "omnicall_rtp_jitter_seconds{stat=\"max\"")).as(rtp).isPositive().isLessThan(0.5);
                    assertThat(gauge(live, "omnicall_rtp_jitter_seconds{stat=\"mean\"")).as(rtp).isPositive();
                    shown = true;
                } catch (AssertionError e) {
                    notYet = e;
                    Thread.sleep(500);
                }
            }
            if (!shown) {
                throw notYet;
            }

            // And, while the call is up, the conversation-context store holds the call once its first turn was requested
            String callId = await().atMost(Duration.ofSeconds(30)).until(() -> tail.values(Topics.CALL_EVENTS,
                    e -> e.getPayload() instanceof CallStarted cs && CALLER.equals(cs.getFrom())).stream()
                    .map(CallEvent::getCallId).findFirst().orElse(null), java.util.Objects::nonNull);
            await().atMost(Duration.ofSeconds(30)).ignoreExceptions()
                    .until(() -> !call.isAlive() || context.get(callId) != null);
            assertThat(call.isAlive()).as("bin/call still on the line when the context was read").isTrue();
            assertThat(context.get(callId)).as("conversation context of %s while the call is up", callId).isNotNull();
            // and the dashboard's REST API reads the same store
            given().get("/api/calls/" + callId + "/context").then().statusCode(200).body("callId", equalTo(callId));
            assertThat(tail.values(Topics.CALL_EVENTS, e -> callId.equals(e.getCallId()) && e.getPayload() instanceof CallEnded))
                    .as("CallEnded before the hang-up").isEmpty();

            assertThat(call.waitFor(90, TimeUnit.SECONDS)).as("bin/call finished").isTrue();
            String output = Files.readString(callLog, StandardCharsets.UTF_8);

            // Then the call was answered and the caller heard a reply
            assertThat(call.exitValue()).as("bin/call output:%n%s", output).isZero();
            assertThat(output).contains("call: answered");
            assertThat(reply).exists();
            assertThat(wavSeconds(reply)).as("reply length in seconds").isGreaterThan(0.2);

            // And the dashboard holds the call, ended by the caller, with a turn whose first-audio latency is split
            await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
                List<Map<String, Object>> calls = given().get("/api/snapshot").then().statusCode(200)
                        .extract().jsonPath().getList("calls");
                Map<String, Object> phoneCall = calls.stream().filter(c -> "sip:tester@127.0.0.1".equals(c.get("from")))
                        .findFirst().orElseThrow(() -> new AssertionError("no call from the test caller in " + calls));
                assertThat(phoneCall.get("state")).isEqualTo("ended");
                assertThat(phoneCall.get("endReason")).isEqualTo("CALLER_HANGUP");
                @SuppressWarnings("unchecked")
                List<Map<String, Object>> turns = (List<Map<String, Object>>) phoneCall.get("turns");
                assertThat(turns).anySatisfy(t -> {
                    assertThat(t.get("last")).isEqualTo(true);
                    assertThat(((Number) t.get("firstAudioMs")).doubleValue()).isPositive();
                    @SuppressWarnings("unchecked")
                    Map<String, Object> stages = (Map<String, Object>) t.get("stagesMs");
                    assertThat(stages).containsKeys("vad_wait", "request_to_worker", "worker_queue", "encoder_prefill",
                            "bridge_to_rtp").doesNotContainKey("request_to_inference");
                });
            });
            // And Prometheus sees the turn and the RTP side of the call
            String metrics = given().get("/q/metrics").then().extract().asString();
            assertThat(metrics).contains("omnicall_first_audio_latency_seconds_count")
                    .contains("omnicall_rtp_packets_received_total").contains("omnicall_worker_queue_depth");
            assertThat(counter(metrics, "omnicall_rtp_packets_received_total")).isGreaterThan(50);
            // And with the call over, the live-call gauges read 0 again
            assertThat(gauge(metrics, "omnicall_rtp_jitter_seconds{stat=\"max\"")).isZero();
            assertThat(metrics).contains("omnicall_rtp_send_lateness_call_p99_seconds{");

            // And the request of the second turn carries the first turn in its history
            await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
                List<TurnRequest> second = tail.values(Topics.TURN_REQUESTS, r -> callId.equals(r.getCallId()) && r.getTurnId() == 1);
                assertThat(second).as("TurnRequest of turn 1 (turns requested: %s)", tail.values(Topics.TURN_REQUESTS,
                        r -> callId.equals(r.getCallId())).stream().map(r -> r.getTurnId() + "/" + r.getAttempt()).toList())
                        .isNotEmpty();
                assertThat(second).allSatisfy(r -> assertThat(r.getHistory()).anySatisfy(h -> {
                    assertThat(h.getTurnId()).isZero();
                    assertThat(!h.getAssistantText().isEmpty() || h.getInterrupted())
                            .as("turn 0 in history has reply text or is marked interrupted: %s", h).isTrue();
                }));
            });
            // And a played turn's metrics carry every stage's stamp and a positive first-audio latency
            await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
                List<TurnMetrics> turnMetrics = tail.values(Topics.TURN_METRICS, m -> callId.equals(m.getCallId()));
                assertThat(turnMetrics).as("turn metrics of %s", callId).anySatisfy(m -> {
                    TurnTimings t = m.getTimings();
                    assertThat(java.util.Arrays.asList(t.getSpeechEndUs(), t.getEndOfTurnUs(), t.getSegmentProducedUs(),
                            t.getRequestProducedUs(), t.getRequestConsumedUs(), t.getInferenceStartUs(), t.getPrefillDoneUs(),
                            t.getFirstUnitsUs(), t.getFirstAudioUs(), t.getFirstChunkProducedUs(), t.getChunkReceivedUs(),
                            t.getFirstRtpUs()))
                            .as("stamps of turn %d: %s", m.getTurnId(), t).doesNotContainNull();
                    // streams and the worker share this JVM's clock: the Kafka hop and the queue wait are not negative
                    assertThat(t.getRequestConsumedUs()).isGreaterThanOrEqualTo(t.getRequestProducedUs());
                    assertThat(t.getInferenceStartUs()).isGreaterThanOrEqualTo(t.getRequestConsumedUs());
                    assertThat(m.getRequestToWorkerUs() + m.getWorkerQueueUs()).isEqualTo(m.getRequestToInferenceUs());
                    assertThat(m.getFirstAudioLatencyUs()).as("first-audio latency of turn %d", m.getTurnId()).isNotNull().isPositive();
                });
            });
            // And the hang-up is on call-events and clears the call's conversation context down to its text: for the
            // ended-call grace (omnicall.streams.ended-grace) streams keeps the ended call's text so a late CallerText
            // still completes the transcript, without caller audio or reply drafts (released after the grace)
            await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(tail.values(Topics.CALL_EVENTS,
                    e -> callId.equals(e.getCallId()) && e.getPayload() instanceof CallEnded)).as("CallEnded of %s", callId)
                    .singleElement().satisfies(e -> assertThat(((CallEnded) e.getPayload()).getReason())
                            .isEqualTo(dev.omnicall.events.EndReason.CALLER_HANGUP)));
            await().atMost(Duration.ofSeconds(30)).ignoreExceptions().untilAsserted(() -> {
                Object kept = context.get(callId);
                if (kept != null) {
                    dev.omnicall.state.ConversationState state = (dev.omnicall.state.ConversationState) kept;
                    assertThat(state.getTurns()).as("turns kept after the hang-up of %s", callId)
                            .allSatisfy(t -> assertThat(t.getUserAudio()).isNull());
                    assertThat(state.getPending()).as("pending turns kept after the hang-up of %s", callId)
                            .allSatisfy(t -> assertThat(t.getUserAudio()).isNull());
                    assertThat(state.getDrafts()).as("reply drafts kept after the hang-up of %s", callId).isEmpty();
                }
            });
        }
    }

    /** The streams role's {@code conversation-context} store, queried through the Kafka Streams extension's client. */
    @SuppressWarnings("unchecked")
    private ReadOnlyKeyValueStore<String, Object> contextStore() {
        await().atMost(Duration.ofSeconds(60)).until(() -> streams.state() == KafkaStreams.State.RUNNING);
        return await().atMost(Duration.ofSeconds(30)).ignoreExceptions().until(() -> streams.store(
                StoreQueryParameters.fromNameAndType(ConversationTopology.CONTEXT_STORE,
                        QueryableStoreTypes.<String, Object>keyValueStore())), java.util.Objects::nonNull);
    }

    /** The value of the one sample whose name and leading labels are {@code prefix}; fails when absent. */
    private static double gauge(String metrics, String prefix) {
        return metrics.lines().filter(l -> l.startsWith(prefix)).findFirst()
                .map(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1)))
                .orElseThrow(() -> new AssertionError("no sample " + prefix + " in /q/metrics"));
    }

    /** Length of a 16-bit PCM WAV from its header's data size. */
    private static double wavSeconds(Path wav) throws IOException {
        byte[] b = Files.readAllBytes(wav);
        int rate = le32(b, 24);
        int channels = le16(b, 22);
        int bits = le16(b, 34);
        return (b.length - 44) / (double) (rate * channels * bits / 8);
    }

    private static int le32(byte[] b, int at) {
        return (b[at] & 0xff) | (b[at + 1] & 0xff) << 8 | (b[at + 2] & 0xff) << 16 | (b[at + 3] & 0xff) << 24;
    }

    private static int le16(byte[] b, int at) {
        return (b[at] & 0xff) | (b[at + 1] & 0xff) << 8;
    }

    private static double counter(String metrics, String name) {
        return metrics.lines().filter(l -> l.startsWith(name + " ") || l.startsWith(name + "{"))
                .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).sum();
    }
}
