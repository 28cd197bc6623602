package dev.omnicall.app;

import dev.omnicall.app.boot.OmniCallRuntime;
import dev.omnicall.app.observe.EventViews;
import dev.omnicall.events.CallEnded;
import dev.omnicall.events.CallEvent;
import dev.omnicall.events.BargeIn;
import dev.omnicall.events.CallStarted;
import dev.omnicall.events.CallerText;
import dev.omnicall.events.Codec;
import dev.omnicall.events.DeadLetter;
import dev.omnicall.events.EndReason;
import dev.omnicall.events.TextDelta;
import dev.omnicall.events.Transcript;
import dev.omnicall.events.TranscriptTurn;
import dev.omnicall.events.TurnMetrics;
import dev.omnicall.events.TurnTimings;
import dev.omnicall.kafka.Clock;
import dev.omnicall.kafka.DeadLetters;
import dev.omnicall.kafka.SerdeConfig;
import dev.omnicall.kafka.Topic;
import dev.omnicall.kafka.Topics;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;

/**
 * Writes pipeline events onto the running app's broker, as the bridge, worker and streams roles would,
 * so the dashboard and metrics can be tested before those roles exist.
 */
final class PipelineEvents implements AutoCloseable {

    private final KafkaProducer<String, byte[]> producer;
    private final OmniCallRuntime runtime;
    private final SerdeConfig serde = SerdeConfig.embedded();

    PipelineEvents(OmniCallRuntime runtime) {
        this.runtime = runtime;
        awaitDashboardConsumer(runtime);
        this.producer = new KafkaProducer<>(runtime.kafka().orElseThrow().producer("test-producer"),
                new org.apache.kafka.common.serialization.StringSerializer(), new ByteArraySerializer());
    }

    /** Waits until the boot sequence has run and the dashboard consumer (latest offsets) holds its partitions. */
    static void awaitDashboardConsumer(OmniCallRuntime runtime) {
        await().atMost(Duration.ofSeconds(90)).until(() -> runtime.phase() == OmniCallRuntime.Phase.RUNNING
                && runtime.observer().map(o -> o.assigned()).orElse(false));
    }

    <V extends SpecificRecord> void send(Topic<V> topic, String callId, V value) {
        sendRaw(topic.name(), callId, topic.valueSerde(serde).serializer().serialize(topic.name(), value));
    }

    void sendRaw(String topic, String key, byte[] value) {
        try {
            producer.send(new ProducerRecord<>(topic, key, value)).get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new AssertionError("could not produce to " + topic, e);
        }
    }

    void callStarted(String callId) {
        send(Topics.CALL_EVENTS, callId, callStartedEvent(callId));
    }

    private static CallEvent callStartedEvent(String callId) {
        return CallEvent.newBuilder().setCallId(callId).setBridgeId("test-bridge").setOccurredUs(Clock.nowMicros())
                .setPayload(CallStarted.newBuilder().setFrom("sip:alice@127.0.0.1").setTo("sip:omnicall@127.0.0.1")
                        .setCodec(Codec.PCMU).build())
                .build();
    }

    void callEnded(String callId) {
        send(Topics.CALL_EVENTS, callId, CallEvent.newBuilder().setCallId(callId).setBridgeId("test-bridge")
                .setOccurredUs(Clock.nowMicros())
                .setPayload(CallEnded.newBuilder().setReason(EndReason.CALLER_HANGUP).build())
                .build());
    }

    /** The call's transcript as the streams role writes it to the compacted topic: one turn, ended or not. */
    void transcript(String callId, int turnId, String userText, String assistantText, boolean ended) {
        long now = Clock.nowMicros();
        send(Topics.TRANSCRIPTS, callId, Transcript.newBuilder().setCallId(callId)
                .setTurns(List.of(TranscriptTurn.newBuilder().setTurnId(turnId).setUserText(userText)
                        .setAssistantText(assistantText).setCompletedUs(now).build()))
                .setEnded(ended).setUpdatedUs(now).build());
    }

    /** The caller's words of one turn attempt, as the worker's Whisper decoder publishes them on caller-text. */
    void callerText(String callId, int turnId, int attempt, String text) {
        long now = Clock.nowMicros();
        send(Topics.CALLER_TEXT, callId, CallerText.newBuilder().setCallId(callId).setTurnId(turnId).setAttempt(attempt)
                .setText(text).setLanguage("en").setTokenCount(text.split(" ").length).setAudioMs(1500)
                .setDecodeStartUs(now - 40_000).setDecodeDoneUs(now).setDecodeCpuUs(25_000).setWorkerId("test-worker")
                .setTimings(TurnTimings.newBuilder().build()).build());
    }

    /** The bridge's BargeIn: the caller spoke over the reply after {@code playedTextChars} of its text were played. */
    void bargeIn(String callId, int turnId, int attempt, int playedTextChars) {
        send(Topics.CALL_EVENTS, callId, CallEvent.newBuilder().setCallId(callId).setBridgeId("test-bridge")
                .setOccurredUs(Clock.nowMicros())
                .setPayload(BargeIn.newBuilder().setTurnId(turnId).setAttempt(attempt).setPlayedMs(700)
                        .setPlayedTextChars(playedTextChars).build())
                .build());
    }

    /** A transcript of one interrupted turn: the caller's words and the part of the reply the caller heard. */
    void interruptedTranscript(String callId, int turnId, String userText, String heardText, int generatedChars) {
        long now = Clock.nowMicros();
        send(Topics.TRANSCRIPTS, callId, Transcript.newBuilder().setCallId(callId)
                .setTurns(List.of(TranscriptTurn.newBuilder().setTurnId(turnId).setUserText(userText)
                        .setAssistantText(heardText).setInterrupted(true).setCompletedUs(now)
                        .setUserEndedUs(now - 3_000_000).setReplyStartedUs(now - 2_000_000)
                        .setGeneratedChars(generatedChars).build()))
                .setEnded(false).setUpdatedUs(now).build());
    }

    /**
     * A call's start that reaches the server's dashboard view but not its SSE stream: what a page misses when its
     * stream drops or lags, or when an event falls between its snapshot and its subscription.
     */
    void callStartedLostOnTheStream(String callId) {
        runtime.dashboard().applyLive(EventViews.call(callStartedEvent(callId)), System.currentTimeMillis());
    }

    /** A reply piece that reaches the server's dashboard view but not its SSE stream (see above). */
    void textLostOnTheStream(String callId, int turnId, int attempt, int seq, String text, boolean last) {
        runtime.dashboard().applyLive(EventViews.text(delta(callId, turnId, attempt, seq, text, last)),
                System.currentTimeMillis());
    }

    void text(String callId, int turnId, int attempt, int seq, String text, boolean last) {
        send(Topics.RESPONSE_TEXT, callId, delta(callId, turnId, attempt, seq, text, last));
    }

    private static TextDelta delta(String callId, int turnId, int attempt, int seq, String text, boolean last) {
        return TextDelta.newBuilder().setCallId(callId).setTurnId(turnId).setAttempt(attempt).setSeq(seq).setText(text)
                .setLast(last).setWorkerId("test-worker").setTimings(TurnTimings.newBuilder().build()).build();
    }

    void turnMetrics(String callId, int turnId, long firstAudioUs, long vadWaitUs, long encoderPrefillUs) {
        send(Topics.TURN_METRICS, callId, TurnMetrics.newBuilder().setCallId(callId).setTurnId(turnId).setAttempt(0)
                .setTimings(TurnTimings.newBuilder().build())
                .setVadWaitUs(vadWaitUs).setEncoderPrefillUs(encoderPrefillUs)
                .setFirstAudioLatencyUs(firstAudioUs).build());
    }

    /** A turn's metrics with the request stages: split when {@code requestToWorkerUs} is set, else as a worker before TurnTimings v2 wrote them. */
    void turnMetrics(String callId, int turnId, long firstAudioUs, long vadWaitUs, long encoderPrefillUs,
                     long requestToInferenceUs, Long requestToWorkerUs, Long workerQueueUs) {
        send(Topics.TURN_METRICS, callId, TurnMetrics.newBuilder().setCallId(callId).setTurnId(turnId).setAttempt(0)
                .setTimings(TurnTimings.newBuilder().build())
                .setVadWaitUs(vadWaitUs).setEncoderPrefillUs(encoderPrefillUs)
                .setRequestToInferenceUs(requestToInferenceUs).setRequestToWorkerUs(requestToWorkerUs)
                .setWorkerQueueUs(workerQueueUs)
                .setFirstAudioLatencyUs(firstAudioUs).build());
    }

    void deadLetter(String callId, String sourceTopic, String stage) {
        DeadLetter d = DeadLetters.of(sourceTopic, 0, 42, callId.getBytes(), new byte[]{1, 2, 3}, stage,
                new IllegalArgumentException("unknown schema id 99"), "test");
        send(Topics.DEAD_LETTERS, callId, d);
    }

    @Override
    public void close() {
        producer.close(Duration.ofSeconds(5));
    }
}
