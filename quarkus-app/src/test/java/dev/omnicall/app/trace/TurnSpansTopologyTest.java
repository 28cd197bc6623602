package dev.omnicall.app.trace;

import dev.omnicall.events.AudioSegment;
import dev.omnicall.events.TurnRequest;
import dev.omnicall.events.TurnTimings;
import dev.omnicall.kafka.KafkaSettings;
import dev.omnicall.kafka.SerdeConfig;
import dev.omnicall.kafka.Topics;
import dev.omnicall.kafka.TurnTrace;
import dev.omnicall.topologies.ConversationConfig;
import dev.omnicall.topologies.ConversationTopology;
import dev.omnicall.topologies.StreamsSettings;
import dev.omnicall.topologies.TopologyMetrics;
import dev.omnicall.state.UtteranceProgress;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.test.TestRecord;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The streams role's hook inside the real topology (TopologyTestDriver): the end-of-utterance segment's traceparent
 * becomes the parent of the TurnRequest's span and the TurnRequest carries the new context on; a segment whose header
 * is missing or garbled still becomes its TurnRequest, under a new root trace, and the loss is counted. The context
 * is kept in the assembler's state, so a request sent by the gap timeout hangs under it too.
 */
class TurnSpansTopologyTest {

    private static final SerdeConfig SERDES = SerdeConfig.embedded();
    private static final String BRIDGE_CONTEXT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    @TempDir
    Path stateDir;

    private final InMemorySpanExporter exporter = InMemorySpanExporter.create();
    private final SdkTracerProvider provider = SdkTracerProvider.builder()
            .addSpanProcessor(SimpleSpanProcessor.create(exporter)).build();
    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private TopologyTestDriver driver;
    private TestInputTopic<String, AudioSegment> audio;
    private TestOutputTopic<String, TurnRequest> requests;

    @BeforeEach
    void start() {
        TurnSpans trace = new TurnSpans(provider.get("test"), registry);
        driver = new TopologyTestDriver(ConversationTopology.build(ConversationConfig.defaults(), SERDES,
                new TopologyMetrics(), trace), StreamsSettings.defaults(stateDir).toProperties(KafkaSettings.of("dummy:9092")));
        audio = driver.createInputTopic(Topics.CALLER_AUDIO.name(), new StringSerializer(),
                Topics.CALLER_AUDIO.valueSerde(SERDES).serializer());
        requests = driver.createOutputTopic(Topics.TURN_REQUESTS.name(), new StringDeserializer(),
                Topics.TURN_REQUESTS.valueSerde(SERDES).deserializer());
    }

    @AfterEach
    void stop() {
        driver.close();
        provider.close();
    }

    @Test
    void shouldHangTheRequestsSpanUnderTheSegmentsContextAndCarryItsOwnOnTheTurnRequest() {
        // Given an utterance whose end-of-utterance segment carries the bridge's context
        // When its segments arrive
        sendUtterance("c1", 0, BRIDGE_CONTEXT.getBytes(StandardCharsets.UTF_8));

        // Then the TurnRequest goes out with the context of a bridge-to-request span under the bridge's span
        TestRecord<String, TurnRequest> out = requests.readRecord();
        SpanData span = exporter.getFinishedSpanItems().get(0);
        assertThat(span.getName()).isEqualTo("bridge-to-request");
        assertThat(span.getTraceId()).isEqualTo("4bf92f3577b34da6a3ce929d0e0e4736");
        assertThat(span.getParentSpanId()).isEqualTo("00f067aa0ba902b7");
        assertThat(span.getEndEpochNanos() - span.getStartEpochNanos())
                .isEqualTo((out.value().getTimings().getRequestProducedUs() - 5_500L) * 1000);
        assertThat(traceparent(out)).isEqualTo("00-4bf92f3577b34da6a3ce929d0e0e4736-" + span.getSpanId() + "-01");
    }

    @Test
    void shouldStillSendTheTurnRequestUnderANewRootTraceWhenTheSegmentsTraceparentIsGarbled() {
        // Given an utterance whose end-of-utterance segment carries a traceparent nobody can read
        // When its segments arrive
        sendUtterance("c2", 0, "00-garbage-from-a-broken-bridge".getBytes(StandardCharsets.UTF_8));

        // Then the TurnRequest is sent all the same, with a new trace of its own, and the loss is counted
        assertSentUnderNewRootCountedInvalid("c2");
    }

    @Test
    void shouldStillSendTheTurnRequestUnderANewRootTraceWhenTheSegmentHasNoTraceparent() {
        sendUtterance("c3", 0, null);

        TestRecord<String, TurnRequest> out = requests.readRecord();
        assertThat(out.value().getCallId()).isEqualTo("c3");
        assertThat(exporter.getFinishedSpanItems().get(0).getParentSpanContext().isValid()).isFalse();
        assertThat(traceparent(out)).isNotNull();
        assertThat(registry.counter(TurnSpans.LOST_CONTEXT, "role", "streams", "reason", "missing").count()).isEqualTo(1.0);
    }

    @Test
    void shouldHangTheRequestsSpanUnderTheSegmentsContextWhenTheGapTimeoutSendsIt() {
        // Given an ended utterance that never gets its seq 1; its end-of-utterance segment carries the bridge's context
        sendSegment("c4", 0, false, null);
        sendSegment("c4", 2, true, BRIDGE_CONTEXT.getBytes(StandardCharsets.UTF_8));

        // When the gap timeout sends it (no record is being processed: the context comes from the state store)
        driver.advanceWallClockTime(ConversationConfig.defaults().gapTimeout().multipliedBy(2));

        // Then its span is in the bridge's trace, under the bridge's span, and nothing is counted lost
        TestRecord<String, TurnRequest> out = requests.readRecord();
        SpanData span = exporter.getFinishedSpanItems().get(0);
        assertThat(span.getTraceId()).isEqualTo("4bf92f3577b34da6a3ce929d0e0e4736");
        assertThat(span.getParentSpanId()).isEqualTo("00f067aa0ba902b7");
        assertThat(traceparent(out)).isEqualTo("00-4bf92f3577b34da6a3ce929d0e0e4736-" + span.getSpanId() + "-01");
        assertThat(registry.find(TurnSpans.LOST_CONTEXT).counters()).isEmpty();
    }

    @Test
    void shouldStillSendTheTurnRequestUnderANewRootTraceWhenTheStoredTraceparentIsGarbled() {
        // Given an ended utterance waiting for seq 1 whose stored traceparent is garbled
        sendSegment("c5", 0, false, null);
        sendSegment("c5", 2, true, BRIDGE_CONTEXT.getBytes(StandardCharsets.UTF_8));
        KeyValueStore<String, UtteranceProgress> progress = driver.getKeyValueStore(ConversationTopology.PROGRESS_STORE);
        try (var all = progress.all()) {
            var kv = all.next(); // the one utterance of this test
            kv.value.setTraceparent(ByteBuffer.wrap(new byte[]{(byte) 0xff, 0x00, '-', 'x'}));
            progress.put(kv.key, kv.value);
        }

        // When the gap timeout sends it
        driver.advanceWallClockTime(ConversationConfig.defaults().gapTimeout().multipliedBy(2));

        // Then the TurnRequest goes out all the same, under a new root trace, and the loss is counted
        assertSentUnderNewRootCountedInvalid("c5");
    }

    /** One 160 ms segment of utterance 0 with the bridge's stamps; {@code traceparent} on it when not null. */
    private void sendSegment(String callId, int seq, boolean last, byte[] traceparent) {
        AudioSegment s = AudioSegment.newBuilder().setCallId(callId).setUtteranceId(0).setSeq(seq)
                .setSampleRate(16000).setPcm(ByteBuffer.allocate(5120)).setVoiced(true).setEndOfUtterance(last)
                .setCaptureStartUs(160_000L * seq).setCaptureEndUs(160_000L * (seq + 1))
                .setTimings(last ? TurnTimings.newBuilder().setSpeechEndUs(5_000L).setEndOfTurnUs(5_500L)
                        .setSegmentProducedUs(5_600L).build() : null)
                .build();
        RecordHeaders headers = new RecordHeaders();
        if (traceparent != null) {
            headers.add(TurnTrace.TRACEPARENT, traceparent);
        }
        audio.pipeInput(new TestRecord<>(callId, s, headers));
    }

    /** Three 160 ms segments; the last ends the utterance and carries {@code traceparent} (none when null). */
    private void sendUtterance(String callId, int utterance, byte[] traceparent) {
        for (int seq = 0; seq < 3; seq++) {
            boolean last = seq == 2;
            AudioSegment s = AudioSegment.newBuilder().setCallId(callId).setUtteranceId(utterance).setSeq(seq)
                    .setSampleRate(16000).setPcm(ByteBuffer.allocate(5120)).setVoiced(true).setEndOfUtterance(last)
                    .setCaptureStartUs(160_000L * seq).setCaptureEndUs(160_000L * (seq + 1))
                    .setTimings(last ? TurnTimings.newBuilder().setSpeechEndUs(5_000L).setEndOfTurnUs(5_500L)
                            .setSegmentProducedUs(5_600L).build() : null)
                    .build();
            RecordHeaders headers = new RecordHeaders();
            if (last && traceparent != null) {
                headers.add(TurnTrace.TRACEPARENT, traceparent);
            }
            audio.pipeInput(new TestRecord<>(callId, s, headers));
        }
    }

    private static String traceparent(TestRecord<String, TurnRequest> r) {
        byte[] v = TurnTrace.traceparent(r.headers());
        return v == null ? null : new String(v, StandardCharsets.UTF_8);
    }

    /** The call's TurnRequest went out under a new root span of its own, and one invalid context was counted. */
    private void assertSentUnderNewRootCountedInvalid(String callId) {
        TestRecord<String, TurnRequest> out = requests.readRecord();
        assertThat(out.value().getCallId()).isEqualTo(callId);
        SpanData span = exporter.getFinishedSpanItems().get(0);
        assertThat(span.getParentSpanContext().isValid()).isFalse();
        assertThat(traceparent(out)).startsWith("00-" + span.getTraceId() + "-" + span.getSpanId());
        assertThat(registry.counter(TurnSpans.LOST_CONTEXT, "role", "streams", "reason", "invalid").count()).isEqualTo(1.0);
    }
}
