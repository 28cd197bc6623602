package dev.omnicall.app;

import dev.omnicall.app.boot.OmniCallRuntime;
import dev.omnicall.app.roles.BridgeRoleService;
import dev.omnicall.app.config.Role;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

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

/**
 * The whole system on one phone call: {@code bin/call} dials the app's bridge with baresip (a real SIP
 * caller, digest auth as the test profile requires), speaks an espeak-ng sentence and records the reply.
 * In between: bridge (VAD, caller-audio) → streams (TurnRequest) → worker (tiny checkpoint on CPU) →
 * response-audio → bridge (RTP). The reply is random-weight noise, but it must arrive, and the turn's
 * latency split must reach turn-metrics, the dashboard and /q/metrics.
 */
@QuarkusTest
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class PhoneCallIT {

    private static final Path CALL_SCRIPT = Path.of("..", "bin", "call");

    @Inject
    OmniCallRuntime runtime;

    @Test
    void shouldPlayAReplyAndRecordItsLatencySplitWhenARealSipCallerSpeaks() throws Exception {
        // Given the app with every role running
        PipelineEvents.awaitDashboardConsumer(runtime);
        BridgeRoleService bridge = (BridgeRoleService) runtime.roles().get(Role.BRIDGE);
        await().atMost(Duration.ofSeconds(60)).until(() -> bridge.sipUri() != null);
        Path reply = Path.of("target", "phone-call-reply.wav").toAbsolutePath();
        Files.deleteIfExists(reply);

        // When a caller says one sentence and stays on the line
        Path callLog = Path.of("target", "phone-call-bin-call.log").toAbsolutePath();
        Process call = new ProcessBuilder(CALL_SCRIPT.toString(), "--to", bridge.sipUri(),
                "--user", "tester", "--password", "sip-secret-Xq81",
                "--say", "Hello, what is the capital of France?", "--listen", "15", "--out", reply.toString())
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
                assertThat(stages).containsKeys("vad_wait", "encoder_prefill", "bridge_to_rtp");
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
