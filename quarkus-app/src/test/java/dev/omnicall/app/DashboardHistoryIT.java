package dev.omnicall.app;

import dev.omnicall.app.boot.OmniCallRuntime;
import dev.omnicall.app.observe.DashboardState;
import dev.omnicall.app.observe.PipelineMetrics;
import dev.omnicall.app.observe.PipelineObserver;
import dev.omnicall.app.roles.StreamsRoleService;
import dev.omnicall.kafka.SerdeConfig;
import dev.omnicall.kafka.Topics;
import dev.omnicall.testbroker.TestBrokerCondition;
import dev.omnicall.testbroker.TestBrokerResource;
import io.quarkus.test.common.TestResourceScope;
import io.quarkus.test.common.WithTestResource;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * A dashboard that starts after the calls (an app restart, or a pod that came up later) still lists them:
 * its consumer reads back the tail of call-events, caller-text, transcripts and turn-metrics on the real broker. The
 * history fills the dashboard state only; it is neither counted again in the metrics nor pushed to browsers.
 */
@QuarkusTest
@WithTestResource(value = TestBrokerResource.class, scope = TestResourceScope.GLOBAL)
@ExtendWith(TestBrokerCondition.class)
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class DashboardHistoryIT {

    @Inject
    OmniCallRuntime runtime;

    @Test
    void shouldListACallThatEndedBeforeTheDashboardStartedWhenItReadsBackTheTopics() throws Exception {
        // Given a call that started, got a streamed and measured reply, has its transcript, and ended
        String callId = "call-history-1";
        try (PipelineEvents events = new PipelineEvents(runtime)) {
            events.callStarted(callId);
            events.text(callId, 1, 0, 0, "Bonjour le monde.", true);
            events.turnMetrics(callId, 1, 812_000, 600_000, 150_000);
            events.transcript(callId, 1, "Quelle heure est-il ?", "Bonjour le monde.", true);
            // a second turn whose caller text was published but whose transcript never came (the call ended first)
            events.callerText(callId, 2, 0, "Et demain ?");
            events.callEnded(callId);
        }
        // (the running app's own dashboard has seen all of it, so every record is on the broker; and the
        // streams role has committed its input offsets up to the end, so its own transcripts of the call are out
        // too: under exactly-once they commit together. Otherwise, on a loaded box, its transcript of the call
        // could arrive after the fresh consumer started and rightly count as live.)
        await().atMost(Duration.ofSeconds(30)).until(() -> find(runtime.dashboard(), callId)
                .filter(c -> "ended".equals(c.get("state")) && turn(c).get("firstAudioMs") != null).isPresent());
        await().atMost(Duration.ofSeconds(60)).until(this::streamsCaughtUp);

        // When a dashboard consumer starts afresh, as after a restart (new group, empty state, own metrics)
        DashboardState state = new DashboardState(50);
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        PipelineMetrics metrics = new PipelineMetrics(registry);
        List<Map<String, Object>> published = new CopyOnWriteArrayList<>();
        try (PipelineObserver fresh = new PipelineObserver(runtime.kafka().orElseThrow(), SerdeConfig.embedded(),
                "dashboard-history-test", "dashboard-history-test", metrics, state, published::add)) {
            fresh.start();

            // Then its state lists the ended call with the caller, both sides of the turn and its latency split
            await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
                Map<String, Object> call = find(state, callId).orElseThrow(() -> new AssertionError(
                        "call not read back; snapshot " + state.snapshot()));
                assertThat(call.get("state")).isEqualTo("ended");
                assertThat(call.get("from")).isEqualTo("sip:alice@127.0.0.1");
                assertThat(call.get("endReason")).isEqualTo("CALLER_HANGUP");
                Map<String, Object> turn = turn(call);
                assertThat(turn.get("text")).isEqualTo("Bonjour le monde.");
                assertThat(turn.get("userText")).isEqualTo("Quelle heure est-il ?");
                assertThat(turn.get("firstAudioMs")).isEqualTo(812.0);
                assertThat(turn(call, 2).get("userText")).as("caller-text read back").isEqualTo("Et demain ?");
            });
            assertThat(fresh.historyRecords()).isPositive();
            // And the old call is not counted again, nor pushed to browsers as if it were happening now
            assertThat(metrics.activeCalls()).isZero();
            assertThat(registry.find("omnicall.calls.started").counter().count()).isZero();
            assertThat(registry.find("omnicall.turns.completed").counter().count()).isZero();
            assertThat(published).noneMatch(e -> callId.equals(e.get("callId")));
        }
    }

    /** True when the streams role's committed offsets equal the end offsets of every topic it reads. */
    private boolean streamsCaughtUp() {
        List<String> inputs = List.of(Topics.CALLER_AUDIO.name(), Topics.RESPONSE_TEXT.name(), Topics.CALL_EVENTS.name(),
                Topics.RESPONSE_AUDIO.name());
        try (Admin admin = Admin.create(runtime.kafka().orElseThrow().admin())) {
            Map<TopicPartition, OffsetAndMetadata> committed = admin.listConsumerGroupOffsets(StreamsRoleService.APPLICATION_ID)
                    .partitionsToOffsetAndMetadata().get(10, TimeUnit.SECONDS);
            Map<TopicPartition, OffsetSpec> ends = new HashMap<>();
            admin.describeTopics(inputs).allTopicNames().get(10, TimeUnit.SECONDS).forEach((name, d) ->
                    d.partitions().forEach(p -> ends.put(new TopicPartition(name, p.partition()), OffsetSpec.latest())));
            var latest = admin.listOffsets(ends, new ListOffsetsOptions(IsolationLevel.READ_COMMITTED)).all().get(10, TimeUnit.SECONDS);
            return latest.entrySet().stream().allMatch(e -> e.getValue().offset() == 0
                    || (committed.get(e.getKey()) != null && committed.get(e.getKey()).offset() >= e.getValue().offset()));
        } catch (Exception e) {
            return false;
        }
    }

    @SuppressWarnings("unchecked")
    static Optional<Map<String, Object>> find(DashboardState state, String callId) {
        List<Map<String, Object>> calls = (List<Map<String, Object>>) state.snapshot().get("calls");
        return calls.stream().filter(c -> callId.equals(c.get("callId"))).findFirst();
    }

    static Map<String, Object> turn(Map<String, Object> call) {
        return turn(call, 1);
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> turn(Map<String, Object> call, int turnId) {
        List<Map<String, Object>> turns = (List<Map<String, Object>>) call.get("turns");
        return turns.stream().filter(t -> Integer.valueOf(turnId).equals(t.get("turnId"))).findFirst().orElse(Map.of());
    }
}
