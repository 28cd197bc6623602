package dev.omnicall.app.trace;

import dev.omnicall.events.AudioChunk;
import dev.omnicall.events.AudioSegment;
import dev.omnicall.events.TurnRequest;
import dev.omnicall.events.TurnTimings;
import dev.omnicall.kafka.TurnTrace;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.lang.reflect.Proxy;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;

/**
 * The trace hooks on their own, with an in-memory SDK: the four hooks of one turn, each given the headers the one
 * before returned, make one trace whose spans last what the stamps say; a missing or unreadable traceparent starts a
 * new root trace and is counted, and no hook throws.
 */
class TurnSpansTest {

    private static final String CALL = "call-7";
    private static final int TURN = 3;
    private static final int ATTEMPT = 2;
    /** A turn's stamps (epoch µs), every stage a different length. */
    private static final TurnTimings STAMPS = TurnTimings.newBuilder()
            .setSpeechEndUs(1_000_000L).setEndOfTurnUs(1_500_000L).setSegmentProducedUs(1_500_100L)
            .setRequestProducedUs(1_520_000L).setRequestConsumedUs(1_531_000L).setInferenceStartUs(1_543_000L)
            .setPrefillDoneUs(1_900_000L).setFirstUnitsUs(2_100_000L).setFirstAudioUs(2_150_000L)
            .setFirstChunkProducedUs(2_150_500L).setChunkReceivedUs(2_170_000L).setFirstRtpUs(2_191_000L).build();

    private final InMemorySpanExporter exporter = InMemorySpanExporter.create();
    private final SdkTracerProvider provider = SdkTracerProvider.builder()
            .addSpanProcessor(SimpleSpanProcessor.create(exporter)).build();
    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private final TurnSpans spans = new TurnSpans(provider.get("test"), registry);

    @AfterEach
    void close() {
        provider.close();
    }

    @Test
    void shouldChainTheTenStagesOfATurnIntoOneTraceWhenEachHookGetsTheHeadersTheOneBeforeReturned() {
        // Given the bridge's end-of-utterance segment, streams' TurnRequest, the worker's first chunk
        // When each role's hook gets the headers of the record before it
        Headers segment = spans.utteranceEnded(segment(STAMPS));
        Headers request = spans.turnRequested(segment, request(STAMPS));
        Headers chunk = spans.firstChunk(request, chunk(STAMPS));
        Headers playback = spans.playbackStarted(chunk, CALL, TURN, ATTEMPT, STAMPS);

        // Then ten spans of one trace, each lasting exactly its stage of the stamps
        Map<String, SpanData> byName = byName();
        assertThat(byName.keySet()).containsExactlyInAnyOrder("vad-wait", "bridge-to-request", "request-to-inference",
                "request-to-worker", "worker-queue", "encoder-prefill", "first-units", "vocoder", "chunk-to-bridge",
                "bridge-to-rtp");
        assertThat(byName.values()).extracting(SpanData::getTraceId).containsOnly(byName.get("vad-wait").getTraceId());
        Map<String, Long> expectedUs = Map.of("vad-wait", 500_000L, "bridge-to-request", 20_000L,
                "request-to-inference", 23_000L, "request-to-worker", 11_000L, "worker-queue", 12_000L,
                "encoder-prefill", 357_000L, "first-units", 200_000L, "vocoder", 50_000L, "chunk-to-bridge", 20_000L,
                "bridge-to-rtp", 21_000L);
        expectedUs.forEach((name, us) -> {
            SpanData s = byName.get(name);
            assertThat(s.getEndEpochNanos() - s.getStartEpochNanos()).as(name).isEqualTo(us * 1000);
            assertThat(s.getAttributes().get(TurnSpans.STAGE_US)).as(name).isEqualTo(us);
            assertThat(s.getAttributes().get(TurnSpans.CALL_ID)).as(name).isEqualTo(CALL);
            assertThat(s.getAttributes().get(TurnSpans.TURN_ID)).as(name).isEqualTo(TURN);
        });
        assertThat(byName.get("vad-wait").getStartEpochNanos()).isEqualTo(1_000_000_000L);
        // And each stage hangs under the one before it; the two parts of request-to-inference under it
        assertThat(byName.get("vad-wait").getParentSpanContext().isValid()).isFalse();
        assertParent(byName, "bridge-to-request", "vad-wait");
        assertParent(byName, "request-to-inference", "bridge-to-request");
        assertParent(byName, "request-to-worker", "request-to-inference");
        assertParent(byName, "worker-queue", "request-to-inference");
        assertParent(byName, "encoder-prefill", "request-to-inference");
        assertParent(byName, "first-units", "encoder-prefill");
        assertParent(byName, "vocoder", "first-units");
        assertParent(byName, "chunk-to-bridge", "vocoder");
        assertParent(byName, "bridge-to-rtp", "chunk-to-bridge");
        // And the attempt is on the spans of the attempt, the role on every one
        assertThat(byName.get("vocoder").getAttributes().get(TurnSpans.ATTEMPT)).isEqualTo(ATTEMPT);
        assertThat(byName.get("bridge-to-rtp").getAttributes().get(TurnSpans.ATTEMPT)).isEqualTo(ATTEMPT);
        assertThat(byName.get("vad-wait").getAttributes().get(TurnSpans.ATTEMPT)).isNull();
        assertThat(byName.get("bridge-to-request").getAttributes().get(TurnSpans.ROLE)).isEqualTo("streams");
        assertThat(byName.get("worker-queue").getAttributes().get(TurnSpans.ROLE)).isEqualTo("worker");
        // And the PlaybackStarted record carries the last span's context; nothing was lost on the way
        assertThat(traceparent(playback)).isEqualTo("00-" + byName.get("bridge-to-rtp").getTraceId() + "-"
                + byName.get("bridge-to-rtp").getSpanId() + "-01");
        assertThat(registry.find(TurnSpans.LOST_CONTEXT).counters()).isEmpty();
    }

    @Test
    void shouldEndTheWorkersStagesAtTheCancellationWhenATurnIsBargedIntoDuringItsPrefill() {
        // Given a turn whose prefill was running (no prefillDone stamp) when a BargeIn cancelled it at 1.7 s
        TurnTimings reached = TurnTimings.newBuilder(STAMPS).setPrefillDoneUs(null).setFirstUnitsUs(null)
                .setFirstAudioUs(null).setFirstChunkProducedUs(null).setChunkReceivedUs(null).setFirstRtpUs(null).build();
        Headers request = spans.turnRequested(spans.utteranceEnded(segment(STAMPS)), request(STAMPS));

        // When the worker's cancel hook runs as the cancelled TextDelta goes out
        Headers out = spans.turnCancelled(request, CALL, TURN, ATTEMPT, reached, 1_700_000L, "barge-in");

        // Then the stages it began have spans, the one it was in ends at the cancellation, none after it
        Map<String, SpanData> byName = byName();
        assertThat(byName).containsOnlyKeys("vad-wait", "bridge-to-request", "request-to-inference",
                "request-to-worker", "worker-queue", "encoder-prefill");
        SpanData prefill = byName.get("encoder-prefill");
        assertThat(prefill.getStartEpochNanos()).isEqualTo(1_543_000_000L);
        assertThat(prefill.getEndEpochNanos()).isEqualTo(1_700_000_000L);
        assertThat(prefill.getAttributes().get(TurnSpans.STAGE_US)).isEqualTo(157_000L);
        assertThat(byName.get("worker-queue").getEndEpochNanos()).isEqualTo(1_543_000_000L);
        // And all of the worker's spans are ended, say cancelled and why, in the turn's one trace
        for (String name : List.of("request-to-inference", "request-to-worker", "worker-queue", "encoder-prefill")) {
            SpanData span = byName.get(name);
            assertThat(span.hasEnded()).as(name).isTrue();
            assertThat(span.getAttributes().get(TurnSpans.CANCELLED)).as(name).isTrue();
            assertThat(span.getAttributes().get(TurnSpans.CANCEL_REASON)).as(name).isEqualTo("barge-in");
            assertThat(span.getAttributes().get(TurnSpans.ATTEMPT)).as(name).isEqualTo(ATTEMPT);
            assertThat(span.getStatus().getStatusCode()).as(name).isEqualTo(StatusCode.UNSET);
            assertThat(span.getTraceId()).as(name).isEqualTo(byName.get("vad-wait").getTraceId());
        }
        assertThat(byName.get("bridge-to-request").getAttributes().get(TurnSpans.CANCELLED)).isNull();
        assertParent(byName, "request-to-inference", "bridge-to-request");
        assertParent(byName, "encoder-prefill", "request-to-inference");
        // And the cancelled TextDelta carries the context of the span it was cut in
        assertThat(traceparent(out)).isEqualTo("00-" + prefill.getTraceId() + "-" + prefill.getSpanId() + "-01");
    }

    @Test
    void shouldCutTheQueueWaitAtTheCancellationWhenATurnIsCancelledBeforeItStarts() {
        // Given a request read at 1.531 s and cancelled in the queue at 1.6 s (the call ended)
        TurnTimings queued = TurnTimings.newBuilder().setSpeechEndUs(1_000_000L).setEndOfTurnUs(1_500_000L)
                .setSegmentProducedUs(1_500_100L).setRequestProducedUs(1_520_000L).setRequestConsumedUs(1_531_000L)
                .build();

        // When the worker's cancel hook runs
        spans.turnCancelled(spans.turnRequested(new RecordHeaders(), request(STAMPS)), CALL, TURN, ATTEMPT, queued,
                1_600_000L, "call-ended");

        // Then request-to-inference and its queue part end at the cancellation, the Kafka hop where it ended
        Map<String, SpanData> byName = byName();
        assertThat(byName).containsOnlyKeys("bridge-to-request", "request-to-inference", "request-to-worker",
                "worker-queue");
        assertThat(byName.get("request-to-inference").getEndEpochNanos()).isEqualTo(1_600_000_000L);
        assertThat(byName.get("worker-queue").getAttributes().get(TurnSpans.STAGE_US)).isEqualTo(69_000L);
        assertThat(byName.get("request-to-worker").getAttributes().get(TurnSpans.STAGE_US)).isEqualTo(11_000L);
        assertThat(byName.get("worker-queue").getAttributes().get(TurnSpans.CANCEL_REASON)).isEqualTo("call-ended");
        assertParent(byName, "worker-queue", "request-to-inference");
    }

    @Test
    void shouldEndTheBridgesStagesAtTheCallEventWhenAFirstChunkNeverPlays() {
        // Given a speculative turn's first chunk, received at 2.17 s and held; the caller went on at 2.4 s
        TurnTimings held = TurnTimings.newBuilder(STAMPS).setFirstRtpUs(null).build();
        Headers chunk = spans.firstChunk(spans.turnRequested(spans.utteranceEnded(segment(STAMPS)), request(STAMPS)),
                chunk(STAMPS));

        // When the bridge's cancel hook runs
        spans.playbackCancelled(chunk, CALL, TURN, ATTEMPT, held, 2_400_000L, "speculation-cancelled");

        // Then chunk-to-bridge is whole, bridge-to-rtp lasts until the cancellation, both cancelled, under vocoder
        Map<String, SpanData> byName = byName();
        assertThat(byName.get("chunk-to-bridge").getAttributes().get(TurnSpans.STAGE_US)).isEqualTo(20_000L);
        SpanData rtp = byName.get("bridge-to-rtp");
        assertThat(rtp.getStartEpochNanos()).isEqualTo(2_170_000_000L);
        assertThat(rtp.getEndEpochNanos()).isEqualTo(2_400_000_000L);
        assertThat(rtp.getAttributes().get(TurnSpans.CANCEL_REASON)).isEqualTo("speculation-cancelled");
        assertThat(byName.get("chunk-to-bridge").getAttributes().get(TurnSpans.CANCELLED)).isTrue();
        assertThat(byName.get("vocoder").getAttributes().get(TurnSpans.CANCELLED)).isNull();
        assertParent(byName, "chunk-to-bridge", "vocoder");
        assertParent(byName, "bridge-to-rtp", "chunk-to-bridge");
        assertThat(byName.values()).extracting(SpanData::getTraceId).containsOnly(rtp.getTraceId());
    }

    @Test
    void shouldStartANewRootTraceAndCountItWhenTheRecordHasNoTraceparent() {
        // Given a TurnRequest whose segment came without a traceparent header
        // When streams' hook runs
        Headers out = spans.turnRequested(new RecordHeaders(), request(STAMPS));

        // Then its span is the root of a new trace, the TurnRequest carries that trace, and the loss is counted
        SpanData span = byName().get("bridge-to-request");
        assertThat(span.getParentSpanContext().isValid()).isFalse();
        assertThat(traceparent(out)).startsWith("00-" + span.getTraceId() + "-" + span.getSpanId());
        assertThat(lost("streams", "missing")).isEqualTo(1.0);
    }

    @Test
    void shouldStartANewRootTraceAndCountItWhenTheTraceparentIsGarbled() {
        List<byte[]> garbled = List.of(
                "not a traceparent".getBytes(StandardCharsets.UTF_8),
                // all-zero trace id: invalid by the W3C rule
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01".getBytes(StandardCharsets.UTF_8),
                // version ff is forbidden
                "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".getBytes(StandardCharsets.UTF_8),
                // not UTF-8 at all
                new byte[]{(byte) 0xC3, (byte) 0x28, 0, (byte) 0xFF, 0x2D},
                new byte[0]);
        for (byte[] value : garbled) {
            // Given the worker's TurnRequest with a traceparent header nobody can read
            RecordHeaders in = new RecordHeaders();
            in.add(TurnTrace.TRACEPARENT, value);
            exporter.reset();

            // When the worker's hook runs, it does not throw
            Headers[] out = new Headers[1];
            assertThatCode(() -> out[0] = spans.firstChunk(in, chunk(STAMPS))).doesNotThrowAnyException();

            // Then its spans start a new trace, carried on by the chunk
            SpanData root = byName().get("request-to-inference");
            assertThat(root.getParentSpanContext().isValid()).as(new String(value, StandardCharsets.UTF_8)).isFalse();
            assertThat(traceparent(out[0])).contains(root.getTraceId());
        }
        assertThat(lost("worker", "invalid")).isEqualTo(garbled.size());
    }

    @Test
    void shouldFollowAValidTraceparentFromAnotherProcess() {
        // Given a TurnRequest whose header a bridge in another process wrote
        RecordHeaders in = new RecordHeaders();
        in.add(TurnTrace.TRACEPARENT,
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".getBytes(StandardCharsets.UTF_8));

        // When streams' hook runs
        spans.turnRequested(in, request(STAMPS));

        // Then its span continues that trace under that span
        SpanData span = byName().get("bridge-to-request");
        assertThat(span.getTraceId()).isEqualTo("4bf92f3577b34da6a3ce929d0e0e4736");
        assertThat(span.getParentSpanId()).isEqualTo("00f067aa0ba902b7");
        assertThat(span.getParentSpanContext().isRemote()).isTrue();
    }

    @Test
    void shouldSkipAStageWithAMissingStampAndHangTheNextUnderTheLastSpanMade() {
        // Given a first chunk from a worker that did not stamp requestConsumedUs (before TurnTimings v2)
        TurnTimings old = TurnTimings.newBuilder(STAMPS).setRequestConsumedUs(null).build();

        // When the worker's hook runs
        spans.firstChunk(spans.turnRequested(spans.utteranceEnded(segment(old)), request(old)), chunk(old));

        // Then request-to-worker and worker-queue have no span (TurnMetrics has them null), the rest are there
        Map<String, SpanData> byName = byName();
        assertThat(byName).doesNotContainKeys("request-to-worker", "worker-queue")
                .containsKeys("request-to-inference", "encoder-prefill", "vocoder");
        assertParent(byName, "encoder-prefill", "request-to-inference");
    }

    @Test
    void shouldKeepTheSignedLengthAndCutTheSpanToZeroWhenTwoHostsClocksDisagree() {
        // Given a worker whose clock is 5 ms behind streams': it consumed the request "before" it was produced
        TurnTimings skewed = TurnTimings.newBuilder(STAMPS).setRequestConsumedUs(1_515_000L).build();

        // When the worker's hook runs
        spans.firstChunk(new RecordHeaders(), chunk(skewed));

        // Then the span has zero length and its attribute the stage as TurnMetrics has it: -5 ms
        SpanData hop = byName().get("request-to-worker");
        assertThat(hop.getEndEpochNanos()).isEqualTo(hop.getStartEpochNanos());
        assertThat(hop.getAttributes().get(TurnSpans.STAGE_US)).isEqualTo(-5_000L);
    }

    @Test
    void shouldPassTheHeaderOnCountAndNotThrowWhenTheTracerFails() {
        // Given hooks on a tracer that throws
        Tracer broken = (Tracer) Proxy.newProxyInstance(Tracer.class.getClassLoader(), new Class<?>[]{Tracer.class},
                (proxy, method, args) -> {
                    throw new IllegalStateException("tracer broken");
                });
        TurnSpans failing = new TurnSpans(broken, registry);
        RecordHeaders in = new RecordHeaders();
        in.add(TurnTrace.TRACEPARENT,
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".getBytes(StandardCharsets.UTF_8));

        // When streams' hook runs
        Headers[] out = new Headers[1];
        assertThatCode(() -> out[0] = failing.turnRequested(in, request(STAMPS))).doesNotThrowAnyException();

        // Then the record goes on with the header it came with, and the failure is counted
        assertThat(traceparent(out[0])).isEqualTo("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        assertThat(lost("streams", "error")).isEqualTo(1.0);
    }

    private Map<String, SpanData> byName() {
        List<SpanData> finished = exporter.getFinishedSpanItems();
        return finished.stream().collect(Collectors.toMap(SpanData::getName, Function.identity()));
    }

    private static void assertParent(Map<String, SpanData> byName, String child, String parent) {
        SpanContext p = byName.get(child).getParentSpanContext();
        assertThat(p.getSpanId()).as("parent of %s", child).isEqualTo(byName.get(parent).getSpanId());
        assertThat(p.getTraceId()).as("trace of %s's parent", child).isEqualTo(byName.get(parent).getTraceId());
    }

    private double lost(String role, String reason) {
        var c = registry.find(TurnSpans.LOST_CONTEXT).tag("role", role).tag("reason", reason).counter();
        return c == null ? 0 : c.count();
    }

    private static String traceparent(Headers h) {
        byte[] v = TurnTrace.traceparent(h);
        return v == null ? null : new String(v, StandardCharsets.UTF_8);
    }

    private static AudioSegment segment(TurnTimings t) {
        return AudioSegment.newBuilder().setCallId(CALL).setUtteranceId(TURN).setSeq(4).setSampleRate(16000)
                .setPcm(ByteBuffer.allocate(0)).setVoiced(false).setEndOfUtterance(true).setCaptureStartUs(0L)
                .setCaptureEndUs(0L).setTimings(TurnTimings.newBuilder().setSpeechEndUs(t.getSpeechEndUs())
                        .setEndOfTurnUs(t.getEndOfTurnUs()).setSegmentProducedUs(t.getSegmentProducedUs()).build())
                .build();
    }

    private static TurnRequest request(TurnTimings t) {
        return TurnRequest.newBuilder().setCallId(CALL).setTurnId(TURN).setAttempt(0).setAudio(ByteBuffer.allocate(0))
                .setTimings(TurnTimings.newBuilder().setSpeechEndUs(t.getSpeechEndUs()).setEndOfTurnUs(t.getEndOfTurnUs())
                        .setSegmentProducedUs(t.getSegmentProducedUs()).setRequestProducedUs(t.getRequestProducedUs())
                        .build())
                .build();
    }

    private static AudioChunk chunk(TurnTimings t) {
        return AudioChunk.newBuilder().setCallId(CALL).setTurnId(TURN).setAttempt(ATTEMPT).setSeq(0)
                .setPcm(ByteBuffer.allocate(0)).setUnitCount(10).setLast(false)
                .setTimings(TurnTimings.newBuilder(t).setChunkReceivedUs(null).setFirstRtpUs(null).build()).build();
    }
}
