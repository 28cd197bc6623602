package dev.omnicall.topologies;

import dev.omnicall.events.AudioSegment;
import dev.omnicall.events.TurnRequest;
import dev.omnicall.kafka.KafkaSettings;
import dev.omnicall.kafka.SerdeConfig;
import dev.omnicall.kafka.Topics;
import dev.omnicall.kafka.TurnTrace;
import dev.omnicall.state.UtteranceProgress;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.test.TestRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The topology carries a turn's trace context and nothing more: the end-of-utterance segment's headers reach the
 * {@link TurnTrace} hook with the TurnRequest, and the hook's headers go out on the TurnRequest; with the default
 * ({@link TurnTrace#RELAY}) the segment's traceparent is passed on unchanged. The assembler keeps that traceparent
 * in its state, so a request completed by a later segment or sent by the gap timeout carries it too.
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

    @Test
    void shouldCarryTheUtterancesTraceparentWhenALaterSegmentCompletesTheUtterance() {
        try (TopologyTestDriver driver = driver(TurnTrace.RELAY)) {
            // Given an utterance whose end-of-utterance segment (with its traceparent) came before seq 1
            sendSegment(driver, "c3", 0, false, null);
            sendSegment(driver, "c3", 2, true, BRIDGE_CONTEXT);
            assertThat(requests(driver).isEmpty()).isTrue();

            // When the missing segment arrives, without a header, as the bridge sends it
            sendSegment(driver, "c3", 1, false, null);

            // Then the TurnRequest it completes carries the end-of-utterance segment's traceparent
            TestRecord<String, TurnRequest> out = requests(driver).readRecord();
            assertThat(out.value().getAudio().remaining()).isEqualTo(3 * 160 * 2);
            assertThat(traceparent(out)).isEqualTo(BRIDGE_CONTEXT);
        }
    }

    @Test
    void shouldCarryTheUtterancesTraceparentWhenTheGapTimeoutSendsTheUtterance() {
        try (TopologyTestDriver driver = driver(TurnTrace.RELAY)) {
            // Given an ended utterance that never gets its seq 1
            sendSegment(driver, "c4", 0, false, null);
            sendSegment(driver, "c4", 2, true, BRIDGE_CONTEXT);

            // When the gap timeout passes
            driver.advanceWallClockTime(ConversationConfig.defaults().gapTimeout().multipliedBy(2));

            // Then the TurnRequest the punctuator sends carries the end-of-utterance segment's traceparent
            TestRecord<String, TurnRequest> out = requests(driver).readRecord();
            assertThat(out.value().getAudio().remaining()).isEqualTo(2 * 160 * 2);
            assertThat(traceparent(out)).isEqualTo(BRIDGE_CONTEXT);
        }
    }

    @Test
    void shouldSendAnUtteranceRestoredFromStateWrittenBeforeTracesWithoutATraceparent() throws Exception {
        // Given an ended utterance's progress as the previous build wrote it (UtteranceProgress v1: no traceparent)
        Schema v1 = new Schema.Parser().parse(StateSerdes.class.getResourceAsStream(StateSerdes.UTTERANCE_PROGRESS_V1));
        GenericData.Record old = new GenericData.Record(v1);
        old.put("utteranceId", 0);
        old.put("lastSeq", 1);
        old.put("segments", 1);
        old.put("bytes", 320L);
        old.put("capExceeded", false);
        old.put("droppedSegments", 0);
        old.put("endSeenUs", 0L);
        old.put("emitted", false);
        ByteBuffer buf = new BinaryMessageEncoder<GenericRecord>(GenericData.get(), v1).encode(old);
        byte[] bytes = new byte[buf.remaining()];
        buf.get(bytes);

        // When this build reads it, as a restore from the changelog would
        UtteranceProgress read = StateSerdes.singleObject(UtteranceProgress.class, StateSerdes.UTTERANCE_PROGRESS_V1)
                .deserializer().deserialize("changelog", bytes);

        // Then its fields are there and the new one takes its default
        assertThat(read.getLastSeq()).isEqualTo(1);
        assertThat(read.getBytes()).isEqualTo(320L);
        assertThat(read.getEndSeenUs()).isEqualTo(0L);
        assertThat(read.getTraceparent()).isNull();

        // And with it in the store the gap timeout sends the utterance, with no traceparent to pass on
        try (TopologyTestDriver driver = driver(TurnTrace.RELAY)) {
            sendSegment(driver, "c5", 0, false, null);
            KeyValueStore<String, UtteranceProgress> progress = driver.getKeyValueStore(ConversationTopology.PROGRESS_STORE);
            progress.put(StoreKeys.utterance("c5", 0), read);
            // (state put behind the processor's back: a restore has it before the processor opens, which then starts
            // the gap timer, GapTimerTest; here another call's utterance that waits for its gap timeout starts it)
            sendSegment(driver, "c7", 1, true, null);
            driver.advanceWallClockTime(ConversationConfig.defaults().gapTimeout().multipliedBy(2));

            TestRecord<String, TurnRequest> out = requests(driver).readRecordsToList().stream()
                    .filter(r -> r.value().getCallId().equals("c5")).findFirst().orElseThrow();
            assertThat(out.value().getCallId()).isEqualTo("c5");
            assertThat(out.value().getAudio().remaining()).isEqualTo(160 * 2);
            assertThat(traceparent(out)).isNull();
        }
    }

    @Test
    void shouldHandAGarbledStoredTraceparentToTheHookAndStillSendTheRequest() {
        // Given a hook that records the traceparent it gets
        List<byte[]> seen = new ArrayList<>();
        TurnTrace hook = new TurnTrace() {
            @Override
            public Headers turnRequested(Headers in, TurnRequest request) {
                seen.add(TurnTrace.traceparent(in));
                return new RecordHeaders();
            }
        };
        byte[] garbled = {(byte) 0xff, 0x00, '-', 'x'};
        try (TopologyTestDriver driver = driver(hook)) {
            // and an ended utterance whose stored traceparent is garbled (not UTF-8, not a traceparent)
            sendSegment(driver, "c6", 0, false, null);
            sendSegment(driver, "c6", 2, true, BRIDGE_CONTEXT);
            KeyValueStore<String, UtteranceProgress> progress = driver.getKeyValueStore(ConversationTopology.PROGRESS_STORE);
            UtteranceProgress p = progress.get(StoreKeys.utterance("c6", 0));
            p.setTraceparent(ByteBuffer.wrap(garbled));
            progress.put(StoreKeys.utterance("c6", 0), p);

            // When the gap timeout sends it
            driver.advanceWallClockTime(ConversationConfig.defaults().gapTimeout().multipliedBy(2));

            // Then the request goes out and the hook got the stored bytes as they are, to judge (TurnSpans: new root)
            assertThat(requests(driver).readRecord().value().getCallId()).isEqualTo("c6");
            assertThat(seen).hasSize(1);
            assertThat(seen.get(0)).containsExactly(garbled);
        }
    }

    private static void sendSegment(TopologyTestDriver driver, String callId, int seq, boolean last, String traceparent) {
        TestInputTopic<String, AudioSegment> audio = driver.createInputTopic(Topics.CALLER_AUDIO.name(),
                new StringSerializer(), Topics.CALLER_AUDIO.valueSerde(SERDES).serializer());
        RecordHeaders headers = new RecordHeaders();
        if (traceparent != null) {
            headers.add(TurnTrace.TRACEPARENT, traceparent.getBytes(StandardCharsets.UTF_8));
        }
        audio.pipeInput(new TestRecord<>(callId, ConversationDriver.segment(callId, 0, seq, 160, last), headers));
    }

    private static String traceparent(TestRecord<String, TurnRequest> r) {
        byte[] v = TurnTrace.traceparent(r.headers());
        return v == null ? null : new String(v, StandardCharsets.UTF_8);
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
