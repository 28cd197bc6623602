package dev.omnicall.topologies;

import dev.omnicall.events.AudioChunk;
import dev.omnicall.events.AudioSegment;
import dev.omnicall.events.CallEnded;
import dev.omnicall.events.CallEvent;
import dev.omnicall.events.CallStarted;
import dev.omnicall.events.CallerText;
import dev.omnicall.events.Codec;
import dev.omnicall.events.DeadLetter;
import dev.omnicall.events.EndReason;
import dev.omnicall.events.TextDelta;
import dev.omnicall.events.Transcript;
import dev.omnicall.events.TurnMetrics;
import dev.omnicall.events.TurnRequest;
import dev.omnicall.events.TurnTimings;
import dev.omnicall.kafka.KafkaSettings;
import dev.omnicall.kafka.SerdeConfig;
import dev.omnicall.kafka.Topics;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

/** A TopologyTestDriver around {@link ConversationTopology} with typed topics and event builders. */
final class ConversationDriver implements AutoCloseable {

    static final SerdeConfig SERDES = SerdeConfig.embedded();

    final TopologyMetrics metrics = new TopologyMetrics();
    final TopologyTestDriver driver;
    final TestInputTopic<String, AudioSegment> audio;
    final TestInputTopic<String, TextDelta> text;
    final TestInputTopic<String, CallEvent> events;
    final TestInputTopic<String, AudioChunk> chunks;
    final TestInputTopic<String, CallerText> callerText;
    final TestInputTopic<byte[], byte[]> rawAudio;
    final TestInputTopic<byte[], byte[]> rawText;
    final TestInputTopic<byte[], byte[]> rawEvents;
    final TestInputTopic<byte[], byte[]> rawChunks;
    final TestInputTopic<byte[], byte[]> rawCallerText;
    final TestOutputTopic<String, TurnRequest> requests;
    final TestOutputTopic<String, Transcript> transcripts;
    final TestOutputTopic<String, TurnMetrics> turnMetrics;
    final TestOutputTopic<String, DeadLetter> deadLetters;
    private boolean closed;

    ConversationDriver(ConversationConfig config, Path stateDir) {
        Properties props = StreamsSettings.defaults(stateDir).toProperties(KafkaSettings.of("dummy:9092"));
        driver = new TopologyTestDriver(ConversationTopology.build(config, SERDES, metrics), props);
        StringSerializer keys = new StringSerializer();
        audio = driver.createInputTopic(Topics.CALLER_AUDIO.name(), keys, Topics.CALLER_AUDIO.valueSerde(SERDES).serializer());
        text = driver.createInputTopic(Topics.RESPONSE_TEXT.name(), keys, Topics.RESPONSE_TEXT.valueSerde(SERDES).serializer());
        events = driver.createInputTopic(Topics.CALL_EVENTS.name(), keys, Topics.CALL_EVENTS.valueSerde(SERDES).serializer());
        chunks = driver.createInputTopic(Topics.RESPONSE_AUDIO.name(), keys, Topics.RESPONSE_AUDIO.valueSerde(SERDES).serializer());
        callerText = driver.createInputTopic(Topics.CALLER_TEXT.name(), keys, Topics.CALLER_TEXT.valueSerde(SERDES).serializer());
        ByteArraySerializer raw = new ByteArraySerializer();
        rawAudio = driver.createInputTopic(Topics.CALLER_AUDIO.name(), raw, raw);
        rawText = driver.createInputTopic(Topics.RESPONSE_TEXT.name(), raw, raw);
        rawEvents = driver.createInputTopic(Topics.CALL_EVENTS.name(), raw, raw);
        rawChunks = driver.createInputTopic(Topics.RESPONSE_AUDIO.name(), raw, raw);
        rawCallerText = driver.createInputTopic(Topics.CALLER_TEXT.name(), raw, raw);
        StringDeserializer k = new StringDeserializer();
        requests = driver.createOutputTopic(Topics.TURN_REQUESTS.name(), k, Topics.TURN_REQUESTS.valueSerde(SERDES).deserializer());
        transcripts = driver.createOutputTopic(Topics.TRANSCRIPTS.name(), k, Topics.TRANSCRIPTS.valueSerde(SERDES).deserializer());
        turnMetrics = driver.createOutputTopic(Topics.TURN_METRICS.name(), k, Topics.TURN_METRICS.valueSerde(SERDES).deserializer());
        deadLetters = driver.createOutputTopic(Topics.DEAD_LETTERS.name(), k, Topics.DEAD_LETTERS.valueSerde(SERDES).deserializer());
    }

    /** Sends segments 0..n-1 of an utterance, each {@code samples} long; sample values encode (utterance, seq). */
    void sendUtterance(String callId, int utterance, int n, int samples) {
        for (int seq = 0; seq < n; seq++) {
            audio.pipeInput(callId, segment(callId, utterance, seq, samples, seq == n - 1));
        }
    }

    static AudioSegment segment(String callId, int utterance, int seq, int samples, boolean last) {
        ByteBuffer pcm = ByteBuffer.allocate(samples * 2);
        for (int i = 0; i < samples; i++) {
            pcm.put((byte) seq).put((byte) utterance);
        }
        pcm.flip();
        return AudioSegment.newBuilder().setCallId(callId).setUtteranceId(utterance).setSeq(seq).setSampleRate(16000)
                .setPcm(pcm).setVoiced(true).setEndOfUtterance(last).setCaptureStartUs(1_000L * seq)
                .setCaptureEndUs(1_000L * (seq + 1))
                .setTimings(last ? TurnTimings.newBuilder().setSpeechEndUs(5_000L).setEndOfTurnUs(5_500L)
                        .setSegmentProducedUs(5_600L).build() : null)
                .build();
    }

    void reply(String callId, int turnId, int attempt, String... pieces) {
        for (int i = 0; i < pieces.length; i++) {
            text.pipeInput(callId, delta(callId, turnId, attempt, i, pieces[i], i == pieces.length - 1));
        }
    }

    static TextDelta delta(String callId, int turnId, int attempt, int seq, String piece, boolean last) {
        return TextDelta.newBuilder().setCallId(callId).setTurnId(turnId).setAttempt(attempt).setSeq(seq).setText(piece)
                .setLast(last).setTimings(new TurnTimings()).build();
    }

    /** What the worker's Whisper decoder heard in a turn; the caller stopped speaking at 5 ms (as {@link #segment} says). */
    static CallerText callerText(String callId, int turnId, int attempt, String text) {
        return CallerText.newBuilder().setCallId(callId).setTurnId(turnId).setAttempt(attempt).setText(text)
                .setLanguage("en").setTokenCount(text.split(" ").length).setAudioMs(1000).setDecodeStartUs(6_000L)
                .setDecodeDoneUs(7_000L).setTimings(TurnTimings.newBuilder().setSpeechEndUs(5_000L).setEndOfTurnUs(5_500L).build())
                .build();
    }

    void says(String callId, int turnId, String text) {
        callerText.pipeInput(callId, callerText(callId, turnId, 0, text));
    }

    static CallEvent started(String callId) {
        return CallEvent.newBuilder().setCallId(callId).setBridgeId("b1").setOccurredUs(1L)
                .setPayload(CallStarted.newBuilder().setFrom("sip:a@x").setTo("sip:bot@x").setCodec(Codec.PCMU).build()).build();
    }

    static CallEvent ended(String callId) {
        return CallEvent.newBuilder().setCallId(callId).setBridgeId("b1").setOccurredUs(2L)
                .setPayload(CallEnded.newBuilder().setReason(EndReason.CALLER_HANGUP).build()).build();
    }

    static CallEvent event(String callId, Object payload) {
        return CallEvent.newBuilder().setCallId(callId).setBridgeId("b1").setOccurredUs(3L).setPayload(payload).build();
    }

    void advanceWallClock(Duration d) {
        driver.advanceWallClockTime(d);
    }

    /** Lets the default {@code endedGrace} of ended calls run out and the sweep that releases their state run. */
    void passEndedGrace() {
        advanceWallClock(ConversationConfig.DEFAULT_ENDED_GRACE.plus(CallActivity.touchEvery(ConversationConfig.defaults())));
    }

    /** Keys of a store that belong to the call (plain or composite keys). */
    List<String> keysOf(String store, String callId) {
        KeyValueStore<String, Object> s = driver.getKeyValueStore(store);
        List<String> keys = new ArrayList<>();
        try (KeyValueIterator<String, Object> it = s.all()) {
            it.forEachRemaining(kv -> {
                if (StoreKeys.callIdOf(kv.key).equals(callId)) {
                    keys.add(kv.key);
                }
            });
        }
        return keys;
    }

    /** Closes the driver once; a test that restarts the topology closes it before {@link TopologyFixture} does. */
    @Override
    public void close() {
        if (!closed) {
            closed = true;
            driver.close();
        }
    }
}
