package dev.omnicall.app;

import dev.omnicall.app.boot.OmniCallRuntime;
import dev.omnicall.app.config.Role;
import dev.omnicall.app.roles.BridgeRoleService;
import dev.omnicall.app.trace.TurnSpans;
import dev.omnicall.events.AudioChunk;
import dev.omnicall.events.AudioSegment;
import dev.omnicall.events.CallEvent;
import dev.omnicall.events.CallStarted;
import dev.omnicall.events.EndReason;
import dev.omnicall.events.PlaybackStarted;
import dev.omnicall.events.TextDelta;
import dev.omnicall.events.TurnMetrics;
import dev.omnicall.events.TurnRequest;
import dev.omnicall.events.TurnTimings;
import dev.omnicall.kafka.Clock;
import dev.omnicall.kafka.SerdeConfig;
import dev.omnicall.kafka.Topic;
import dev.omnicall.kafka.Topics;
import dev.omnicall.kafka.TurnTrace;
import dev.omnicall.reliability.support.Events;
import dev.omnicall.testbroker.TestBrokerCondition;
import dev.omnicall.testbroker.TestBrokerResource;
import dev.omnicall.worker.WorkerConfig;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.quarkus.test.common.TestResourceScope;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.function.Predicate;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * One turn of a real phone call, followed in its OpenTelemetry trace: a baresip caller asks a question, the app (every
 * role, the SDK on, spans kept in memory by the test's exporter) answers, and the turn that played must be one trace
 * whose spans are the stages of its TurnMetrics record, in order, each lasting exactly what the record says (0 µs
 * tolerance: the spans are made from the same stamps, so any difference is a stamp lost or mixed up on the way). The
 * records on Kafka must carry that trace in their traceparent headers, span by span: the roles share nothing else.
 */
@QuarkusTest
@WithTestResource(value = TestBrokerResource.class, scope = TestResourceScope.GLOBAL)
@ExtendWith(TestBrokerCondition.class)
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class TurnTraceIT {

    private static final String CALLER = "sip:tester@127.0.0.1";
    private static final String PASSWORD = "sip-secret-Xq81";
    private static final Duration REPLY_WAIT = Duration.ofSeconds(150);

    /** The stages one after the other, each the child of the one before, with their fields of TurnMetrics. */
    private static final Map<String, Function<TurnMetrics, Long>> CHAIN = new LinkedHashMap<>();
    /** The two parts of request-to-inference, its children. */
    private static final Map<String, Function<TurnMetrics, Long>> PARTS = new LinkedHashMap<>();

    static {
        CHAIN.put("vad-wait", TurnMetrics::getVadWaitUs);
        CHAIN.put("bridge-to-request", TurnMetrics::getBridgeToRequestUs);
        CHAIN.put("request-to-inference", TurnMetrics::getRequestToInferenceUs);
        CHAIN.put("encoder-prefill", TurnMetrics::getEncoderPrefillUs);
        CHAIN.put("first-units", TurnMetrics::getFirstUnitsUs);
        CHAIN.put("vocoder", TurnMetrics::getVocoderUs);
        CHAIN.put("chunk-to-bridge", TurnMetrics::getChunkToBridgeUs);
        CHAIN.put("bridge-to-rtp", TurnMetrics::getBridgeToRtpUs);
        PARTS.put("request-to-worker", TurnMetrics::getRequestToWorkerUs);
        PARTS.put("worker-queue", TurnMetrics::getWorkerQueueUs);
    }

    @Inject
    OmniCallRuntime runtime;
    @Inject
    InMemorySpanExporter spans;
    @Inject
    MeterRegistry registry;

    @Test
    void shouldFollowOneTurnOfARealCallInOneTraceWhoseSpansLastWhatItsTurnMetricsSay() throws Exception {
        // Given the app with every role running and its spans collected in memory
        BridgeRoleService bridge = (BridgeRoleService) runtime.roles().get(Role.BRIDGE);
        String sipUri = await().atMost(Duration.ofSeconds(60)).until(bridge::sipUri, Objects::nonNull);
        double lostBefore = lostContexts();
        Path dir = Path.of("target", "turn-trace").toAbsolutePath();

        String callId;
        TurnMetrics metrics;
        try (TopicTail tail = TopicTail.open(runtime, Topics.CALL_EVENTS, Topics.TURN_METRICS);
             BaresipCaller caller = BaresipCaller.dial(dir, sipUri, "tester", PASSWORD, "What time do you open on Saturday?")) {
            // When a real caller asks a question and the reply starts to play
            callId = await("CallStarted").atMost(Duration.ofSeconds(60)).failFast("baresip exited", () -> !caller.isAlive())
                    .until(() -> tail.values(Topics.CALL_EVENTS, e -> e.getPayload() instanceof CallStarted s
                            && CALLER.equals(s.getFrom())).stream().map(CallEvent::getCallId).findFirst().orElse(null),
                            Objects::nonNull);
            String call = callId;
            PlaybackStarted played = await("a PlaybackStarted").atMost(REPLY_WAIT)
                    .failFast("baresip exited", () -> !caller.isAlive())
                    .until(() -> tail.values(Topics.CALL_EVENTS, e -> call.equals(e.getCallId())
                                    && e.getPayload() instanceof PlaybackStarted).stream()
                            .map(e -> (PlaybackStarted) e.getPayload()).findFirst().orElse(null), Objects::nonNull);
            metrics = await("the turn metrics of turn " + played.getTurnId()).atMost(Duration.ofSeconds(60))
                    .until(() -> tail.values(Topics.TURN_METRICS, m -> call.equals(m.getCallId())
                                    && m.getTurnId() == played.getTurnId() && m.getAttempt() == played.getAttempt()
                                    && m.getFirstAudioLatencyUs() != null).stream().findFirst().orElse(null),
                            Objects::nonNull);
            caller.hangUp();
        }
        TurnMetrics m = metrics;
        String call = callId;

        // Then the turn's spans are all there, one of each stage (those of its other attempts aside)
        List<String> names = new ArrayList<>(CHAIN.keySet());
        names.addAll(PARTS.keySet());
        Map<String, List<SpanData>> byName = await("the spans of turn " + m.getTurnId()).atMost(Duration.ofSeconds(30))
                .until(() -> spansOf(call, m.getTurnId(), m.getAttempt()), s -> s.keySet().containsAll(names));
        assertThat(byName.keySet()).as("span names").containsExactlyInAnyOrderElementsOf(names);
        byName.forEach((name, s) -> assertThat(s).as("spans named %s", name).hasSize(1));
        Map<String, SpanData> span = byName.entrySet().stream()
                .collect(Collectors.toMap(Map.Entry::getKey, e -> e.getValue().get(0)));
        String summary = summary(span);
        System.out.printf("turn trace: call %s turn %d attempt %d, first audio %d ms: %s%n", call, m.getTurnId(),
                m.getAttempt(), m.getFirstAudioLatencyUs() / 1000, summary);

        // And they form one trace: vad-wait its root, each stage the child of the one before, in the order of time,
        // each starting where the one before ended
        String traceId = span.get("vad-wait").getTraceId();
        assertThat(span.values()).as(summary).extracting(SpanData::getTraceId).containsOnly(traceId);
        assertThat(span.get("vad-wait").getParentSpanContext().isValid()).as("vad-wait is the root").isFalse();
        List<String> chain = new ArrayList<>(CHAIN.keySet());
        for (int i = 1; i < chain.size(); i++) {
            SpanData before = span.get(chain.get(i - 1));
            SpanData now = span.get(chain.get(i));
            assertThat(now.getParentSpanId()).as("parent of %s: %s", chain.get(i), summary).isEqualTo(before.getSpanId());
            assertThat(now.getStartEpochNanos()).as("%s starts where %s ends: %s", chain.get(i), chain.get(i - 1), summary)
                    .isEqualTo(before.getEndEpochNanos());
        }
        SpanData inference = span.get("request-to-inference");
        for (String part : PARTS.keySet()) {
            assertThat(span.get(part).getParentSpanId()).as("parent of %s", part).isEqualTo(inference.getSpanId());
        }
        assertThat(span.get("request-to-worker").getStartEpochNanos()).isEqualTo(inference.getStartEpochNanos());
        assertThat(span.get("worker-queue").getStartEpochNanos()).isEqualTo(span.get("request-to-worker").getEndEpochNanos());
        assertThat(span.get("worker-queue").getEndEpochNanos()).isEqualTo(inference.getEndEpochNanos());

        // And each lasts exactly its stage of the TurnMetrics record (0 µs tolerance), which the span also carries
        Map<String, Function<TurnMetrics, Long>> all = new LinkedHashMap<>(CHAIN);
        all.putAll(PARTS);
        all.forEach((name, field) -> {
            Long stageUs = field.apply(m);
            SpanData s = span.get(name);
            assertThat(stageUs).as("TurnMetrics of %s: %s", name, m).isNotNull();
            assertThat(s.getEndEpochNanos() - s.getStartEpochNanos()).as("%s lasts its stage: %s; %s", name, summary, m)
                    .isEqualTo(Math.max(0, stageUs) * 1000);
            assertThat(s.getAttributes().get(TurnSpans.STAGE_US)).as(name).isEqualTo(stageUs);
        });
        long chainNanos = CHAIN.keySet().stream().mapToLong(n -> span.get(n).getEndEpochNanos() - span.get(n).getStartEpochNanos())
                .sum();
        assertThat(chainNanos).as("the chain covers the first-audio latency").isEqualTo(m.getFirstAudioLatencyUs() * 1000);
        assertThat(span.get("vad-wait").getStartEpochNanos()).isEqualTo(m.getTimings().getSpeechEndUs() * 1000);

        // And every span names the call, the turn and its role; those of the attempt the attempt
        span.forEach((name, s) -> {
            assertThat(s.getAttributes().get(TurnSpans.CALL_ID)).as(name).isEqualTo(call);
            assertThat(s.getAttributes().get(TurnSpans.TURN_ID)).as(name).isEqualTo(m.getTurnId());
            if (!name.equals("vad-wait") && !name.equals("bridge-to-request")) {
                assertThat(s.getAttributes().get(TurnSpans.ATTEMPT)).as(name).isEqualTo(m.getAttempt());
            }
        });
        assertThat(span.get("vad-wait").getAttributes().get(TurnSpans.ROLE)).isEqualTo("bridge");
        assertThat(span.get("bridge-to-request").getAttributes().get(TurnSpans.ROLE)).isEqualTo("streams");
        assertThat(span.get("vocoder").getAttributes().get(TurnSpans.ROLE)).isEqualTo("worker");
        assertThat(span.get("bridge-to-rtp").getAttributes().get(TurnSpans.ROLE)).isEqualTo("bridge");

        // And the context went from role to role in the records' traceparent headers, each naming the span before it
        assertThat(traceparents(Topics.CALLER_AUDIO, call, (AudioSegment s) -> s.getUtteranceId() == m.getTurnId()
                && s.getEndOfUtterance())).as("end-of-utterance segment").containsExactly(w3c(span.get("vad-wait")));
        assertThat(traceparents(Topics.TURN_REQUESTS, call, (TurnRequest r) -> r.getTurnId() == m.getTurnId()))
                .as("TurnRequest").containsOnly(w3c(span.get("bridge-to-request")));
        assertThat(traceparents(Topics.RESPONSE_AUDIO, call, (AudioChunk c) -> c.getTurnId() == m.getTurnId()
                && c.getAttempt() == m.getAttempt() && c.getSeq() == 0)).as("first AudioChunk")
                .containsExactly(w3c(span.get("vocoder")));
        assertThat(traceparents(Topics.CALL_EVENTS, call, (CallEvent e) -> e.getPayload() instanceof PlaybackStarted p
                && p.getTurnId() == m.getTurnId() && p.getAttempt() == m.getAttempt())).as("PlaybackStarted")
                .containsExactly(w3c(span.get("bridge-to-rtp")));
        // and no role met a record without a context on the way
        assertThat(lostContexts() - lostBefore).as("records without a usable trace context").isZero();
    }

    @Test
    void shouldEndTheWorkersSpansAsCancelledWhenATurnOfAnEndedCallCannotRun() throws Exception {
        // Given a call that ended, and then a TurnRequest of it that carries a trace context, sent once the worker has
        // committed past the CallEnded (so it cannot read the request first, as it may when both come in one fetch)
        String call = "trace-cancel-" + UUID.randomUUID();
        String parentTrace = "4bf92f3577b34da6a3ce929d0e0e4736";
        String parentSpan = "00f067aa0ba902b7";
        long producedUs;
        try (TopicTail tail = TopicTail.open(runtime, Topics.RESPONSE_TEXT);
             KafkaProducer<String, byte[]> producer = new KafkaProducer<>(
                     runtime.kafka().orElseThrow().producer("turn-trace-it-" + UUID.randomUUID()),
                     new StringSerializer(), new ByteArraySerializer())) {
            RecordMetadata ended = send(producer, Topics.CALL_EVENTS, call,
                    Events.callEnded(call, EndReason.CALLER_HANGUP), null);
            awaitWorkerCommitted(new TopicPartition(ended.topic(), ended.partition()), ended.offset() + 1);
            producedUs = Clock.nowMicros();
            TurnRequest request = TurnRequest.newBuilder(Events.turnRequest(call, 5, Events.utterance(1.0, 5L)))
                    .setTimings(TurnTimings.newBuilder().setSpeechEndUs(producedUs - 600_000L)
                            .setEndOfTurnUs(producedUs - 100_000L).setSegmentProducedUs(producedUs - 100_000L)
                            .setRequestProducedUs(producedUs).build()).build();
            send(producer, Topics.TURN_REQUESTS, call, request, "00-" + parentTrace + "-" + parentSpan + "-01");

            // When the worker turns it away: one cancelled last TextDelta, no reply
            TextDelta cancelled = await("the cancelled TextDelta of " + call).atMost(Duration.ofSeconds(60))
                    .until(() -> tail.values(Topics.RESPONSE_TEXT, d -> call.equals(d.getCallId())).stream()
                            .findFirst().orElse(null), Objects::nonNull);
            assertThat(cancelled.getCancelled()).as("the worker's TextDelta says cancelled").isTrue();
            assertThat(cancelled.getLast()).isTrue();
        }

        // Then the worker's stages it began (the Kafka hop, the queue wait, the whole request-to-inference) are ended
        // spans of the request's trace, cut at the cancellation and saying cancelled and why; nothing after them
        Map<String, List<SpanData>> byName = await("the cancelled spans of " + call).atMost(Duration.ofSeconds(30))
                .until(() -> spansOf(call, 5, -1), s -> s.keySet().containsAll(
                        List.of("request-to-inference", "request-to-worker", "worker-queue")));
        assertThat(byName.keySet()).containsExactlyInAnyOrder("request-to-inference", "request-to-worker", "worker-queue");
        Map<String, SpanData> span = byName.entrySet().stream()
                .collect(Collectors.toMap(Map.Entry::getKey, e -> e.getValue().get(0)));
        span.forEach((name, s) -> {
            assertThat(byName.get(name)).as(name).hasSize(1);
            assertThat(s.hasEnded()).as(name).isTrue();
            assertThat(s.getTraceId()).as(name).isEqualTo(parentTrace);
            assertThat(s.getAttributes().get(TurnSpans.CANCELLED)).as(name).isTrue();
            assertThat(s.getAttributes().get(TurnSpans.CANCEL_REASON)).as(name).isEqualTo("already-cancelled");
            assertThat(s.getAttributes().get(TurnSpans.ROLE)).as(name).isEqualTo("worker");
        });
        SpanData inference = span.get("request-to-inference");
        long start = producedUs;
        assertThat(inference.getParentSpanId()).isEqualTo(parentSpan);
        assertThat(inference.getStartEpochNanos()).isEqualTo(start * 1000);
        assertThat(span.get("worker-queue").getParentSpanId()).isEqualTo(inference.getSpanId());
        assertThat(span.get("worker-queue").getEndEpochNanos()).isEqualTo(inference.getEndEpochNanos());
        assertThat(span.get("request-to-worker").getEndEpochNanos())
                .isEqualTo(span.get("worker-queue").getStartEpochNanos());
        // And the cancelled TextDelta carries that context on
        assertThat(traceparents(Topics.RESPONSE_TEXT, call, (TextDelta d) -> d.getCancelled()))
                .containsExactly(w3c(inference));
    }

    /** Waits until the worker group's committed offset of {@code tp} reaches {@code offset}. */
    private void awaitWorkerCommitted(TopicPartition tp, long offset) {
        try (Admin admin = Admin.create(runtime.kafka().orElseThrow().admin())) {
            await("the worker's commit of " + tp + " at " + offset).atMost(Duration.ofSeconds(60)).until(() -> {
                OffsetAndMetadata committed = admin.listConsumerGroupOffsets(WorkerConfig.DEFAULT_GROUP)
                        .partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS).get(tp);
                return committed != null && committed.offset() >= offset;
            });
        }
    }

    private static <V extends SpecificRecord> RecordMetadata send(KafkaProducer<String, byte[]> producer, Topic<V> topic,
                                                                  String key, V value, String traceparent) throws Exception {
        ProducerRecord<String, byte[]> r = new ProducerRecord<>(topic.name(), key,
                topic.valueSerde(SerdeConfig.embedded()).serializer().serialize(topic.name(), value));
        if (traceparent != null) {
            r.headers().add(TurnTrace.TRACEPARENT, traceparent.getBytes(StandardCharsets.UTF_8));
        }
        return producer.send(r).get(30, TimeUnit.SECONDS);
    }

    /**
     * The spans of one turn, by name: those of the attempt (every attempt's when {@code attempt} is negative) and those
     * before any attempt (vad-wait, bridge-to-request).
     */
    private Map<String, List<SpanData>> spansOf(String callId, int turnId, int attempt) {
        return spans.getFinishedSpanItems().stream()
                .filter(s -> callId.equals(s.getAttributes().get(TurnSpans.CALL_ID))
                        && Long.valueOf(turnId).equals(s.getAttributes().get(TurnSpans.TURN_ID)))
                .filter(s -> {
                    Long a = s.getAttributes().get(TurnSpans.ATTEMPT);
                    return a == null || attempt < 0 || a == attempt;
                })
                .collect(Collectors.groupingBy(SpanData::getName));
    }

    private double lostContexts() {
        return registry.find(TurnSpans.LOST_CONTEXT).counters().stream().mapToDouble(Counter::count).sum();
    }

    /** The traceparent a span hands on: 00-trace-span-flags. */
    private static String w3c(SpanData s) {
        return "00-" + s.getTraceId() + "-" + s.getSpanId() + "-" + s.getSpanContext().getTraceFlags().asHex();
    }

    private static String summary(Map<String, SpanData> span) {
        return span.values().stream().sorted(java.util.Comparator.comparingLong(SpanData::getStartEpochNanos))
                .map(s -> String.format("%s[%s<-%s %d..%d]", s.getName(), s.getSpanId(), s.getParentSpanId(),
                        s.getStartEpochNanos() / 1000, s.getEndEpochNanos() / 1000))
                .collect(Collectors.joining(" "));
    }

    /** The traceparent header of every record of {@code callId} on {@code topic} whose value matches, read from the start. */
    private <V extends SpecificRecord> List<String> traceparents(Topic<V> topic, String callId, Predicate<V> filter) {
        String id = "turn-trace-it-" + UUID.randomUUID();
        List<String> out = new ArrayList<>();
        try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(runtime.kafka().orElseThrow().consumer(id, id),
                new StringDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> partitions = consumer.partitionsFor(topic.name(), Duration.ofSeconds(30)).stream()
                    .map(p -> new TopicPartition(p.topic(), p.partition())).toList();
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            Map<TopicPartition, Long> ends = consumer.endOffsets(partitions, Duration.ofSeconds(30));
            var deserializer = topic.valueSerde(SerdeConfig.embedded()).deserializer();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (partitions.stream().anyMatch(p -> consumer.position(p) < ends.get(p))) {
                assertThat(System.nanoTime()).as("read %s to its end within 60 s", topic.name()).isLessThan(deadline);
                for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                    if (callId.equals(r.key()) && filter.test(deserializer.deserialize(r.topic(), r.value()))) {
                        byte[] tp = TurnTrace.traceparent(r.headers());
                        out.add(tp == null ? null : new String(tp, StandardCharsets.UTF_8));
                    }
                }
            }
        }
        return out;
    }
}
