package dev.omnicall.topologies;

import dev.omnicall.events.AudioSegment;
import dev.omnicall.events.TurnRequest;
import dev.omnicall.kafka.KafkaSettings;
import dev.omnicall.kafka.SerdeConfig;
import dev.omnicall.kafka.Topics;
import dev.omnicall.kafka.TurnTrace;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.test.TestRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The topology carries a turn's trace context and nothing more: the end-of-utterance segment's headers reach the
 * {@link TurnTrace} hook with the TurnRequest, and the hook's headers go out on the TurnRequest; with the default
 * ({@link TurnTrace#RELAY}) the segment's traceparent is passed on unchanged.
 */
class TurnTraceHeaderTest {

    private static final SerdeConfig SERDES = SerdeConfig.embedded();
    private static final String BRIDGE_CONTEXT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    @TempDir
    Path stateDir;

    @Test
    void shouldPassTheEndOfUtteranceSegmentsTraceparentOnToTheTurnRequestByDefault() {
        try (TopologyTestDriver driver = driver(TurnTrace.RELAY)) {
            // Given an utterance whose end-of-utterance segment carries a traceparent
            // When its segments arrive
            sendUtterance(driver, "c1", BRIDGE_CONTEXT);

            // Then the TurnRequest carries the same traceparent
            TestRecord<String, TurnRequest> out = requests(driver).readRecord();
            assertThat(new String(TurnTrace.traceparent(out.headers()), StandardCharsets.UTF_8)).isEqualTo(BRIDGE_CONTEXT);
        }
    }

    @Test
    void shouldGiveTheHookTheSegmentsHeadersAndPutItsOwnOnTheTurnRequest() {
        // Given a hook that records what it gets and answers with headers of its own
        List<String> seen = new ArrayList<>();
        TurnTrace hook = new TurnTrace() {
            @Override
            public Headers turnRequested(Headers in, TurnRequest request) {
                byte[] tp = TurnTrace.traceparent(in);
                seen.add(request.getCallId() + "/" + request.getTurnId() + " " + (tp == null ? null : new String(tp, StandardCharsets.UTF_8)));
                RecordHeaders out = new RecordHeaders();
                out.add(TurnTrace.TRACEPARENT, "00-4bf92f3577b34da6a3ce929d0e0e4736-1111111111111111-01".getBytes(StandardCharsets.UTF_8));
                return out;
            }
        };
        try (TopologyTestDriver driver = driver(hook)) {
            // When an utterance arrives
            sendUtterance(driver, "c2", BRIDGE_CONTEXT);

            // Then the hook saw the segment's context once, and the TurnRequest carries the hook's
            assertThat(seen).containsExactly("c2/0 " + BRIDGE_CONTEXT);
            TestRecord<String, TurnRequest> out = requests(driver).readRecord();
            assertThat(new String(TurnTrace.traceparent(out.headers()), StandardCharsets.UTF_8))
                    .isEqualTo("00-4bf92f3577b34da6a3ce929d0e0e4736-1111111111111111-01");
            assertThat(out.headers().headers(TurnTrace.TRACEPARENT)).hasSize(1);
        }
    }

    private TopologyTestDriver driver(TurnTrace trace) {
        return new TopologyTestDriver(ConversationTopology.build(ConversationConfig.defaults(), SERDES, new TopologyMetrics(),
                trace), StreamsSettings.defaults(stateDir).toProperties(KafkaSettings.of("dummy:9092")));
    }

    private static TestOutputTopic<String, TurnRequest> requests(TopologyTestDriver driver) {
        return driver.createOutputTopic(Topics.TURN_REQUESTS.name(), new StringDeserializer(),
                Topics.TURN_REQUESTS.valueSerde(SERDES).deserializer());
    }

    /** Three segments; only the last (end of utterance) carries {@code traceparent}, as the bridge sends them. */
    private static void sendUtterance(TopologyTestDriver driver, String callId, String traceparent) {
        TestInputTopic<String, AudioSegment> audio = driver.createInputTopic(Topics.CALLER_AUDIO.name(),
                new StringSerializer(), Topics.CALLER_AUDIO.valueSerde(SERDES).serializer());
        for (int seq = 0; seq < 3; seq++) {
            RecordHeaders headers = new RecordHeaders();
            if (seq == 2) {
                headers.add(TurnTrace.TRACEPARENT, traceparent.getBytes(StandardCharsets.UTF_8));
            }
            audio.pipeInput(new TestRecord<>(callId, ConversationDriver.segment(callId, 0, seq, 160, seq == 2), headers));
        }
    }
}
