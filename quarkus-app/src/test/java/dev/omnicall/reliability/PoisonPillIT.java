package dev.omnicall.reliability;

import dev.omnicall.bridge.testing.FreePorts;

import dev.omnicall.events.AudioChunk;
import dev.omnicall.events.ConversationTurn;
import dev.omnicall.events.DeadLetter;
import dev.omnicall.events.EndReason;
import dev.omnicall.events.TextDelta;
import dev.omnicall.events.Transcript;
import dev.omnicall.events.TurnMetrics;
import dev.omnicall.events.TurnRequest;
import dev.omnicall.kafka.Topic;
import dev.omnicall.kafka.Topics;
import dev.omnicall.reliability.support.CallerAudio;
import dev.omnicall.reliability.support.Events;
import dev.omnicall.reliability.support.Figures;
import dev.omnicall.reliability.support.Roles;
import dev.omnicall.reliability.support.SippCaller;
import dev.omnicall.reliability.support.Tail;
import dev.omnicall.reliability.support.Waits;
import dev.omnicall.reliability.support.Writer;
import dev.omnicall.events.CallStarted;
import dev.omnicall.testbroker.TestBroker;
import dev.omnicall.topologies.ConversationConfig;
import dev.omnicall.topologies.StreamsRole;
import dev.omnicall.topologies.TopologyMetrics;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.UUID;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Poison pills on every input topic of every role, on the real broker: corrupt bytes, a valid record of the
 * wrong schema, an oversize value (garbage as large as the topic takes, plus the role's own size limit where
 * it has one), and a value past the topic's max.message.bytes (refused by the broker, so it never enters).
 * Each pill must reach dead-letters with its original bytes and the error, be counted by the role's metric,
 * and the next good record must still flow. One broker per role so the counts are exact.
 */
@Timeout(240)
class PoisonPillIT extends ReliabilityTest {

    private static final Duration WAIT = Duration.ofSeconds(60);

    /** A named pill: which topic, the exact bytes. */
    record Pill(String name, Topic<?> topic, String key, byte[] value) {}

    /** Corrupt, wrong-schema and oversize pills for one topic; {@code wrongSchema} is a valid record of another topic. */
    private static List<Pill> pills(Topic<?> topic, String key, byte[] wrongSchema) {
        byte[] corrupt = new byte[]{0, 0, 0, 0, 2, 42, 42, 42, (byte) 0xff};
        byte[] text = "definitely not avro".getBytes(StandardCharsets.UTF_8);
        // as large as the topic accepts, minus room for the key and the record overhead
        byte[] oversize = new byte[topic.maxMessageBytes() - 4096];
        new SplittableRandom(7).nextBytes(oversize);
        return List.of(new Pill("corrupt", topic, key, corrupt), new Pill("not-avro", topic, key, text),
                new Pill("wrong-schema", topic, key, wrongSchema), new Pill("oversize-garbage", topic, key, oversize));
    }

    private static List<DeadLetter> lettersOf(Tail tail, String application, String sourceTopic) {
        return tail.values(Topics.DEAD_LETTERS).stream()
                .filter(d -> d.getApplication().toString().startsWith(application))
                .filter(d -> d.getSourceTopic().toString().equals(sourceTopic)).toList();
    }

    private static byte[] bytes(ByteBuffer b) {
        byte[] out = new byte[b.remaining()];
        b.duplicate().get(out);
        return out;
    }

    private static String digest(byte[] b) {
        try {
            return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256").digest(b)).substring(0, 16)
                    + "/" + b.length;
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Every pill is one dead letter of {@code application} carrying the pill's exact bytes and an error. */
    private static void assertDeadLettered(Tail tail, String application, List<Pill> sent) {
        Map<String, List<Pill>> byTopic = new LinkedHashMap<>();
        sent.forEach(p -> byTopic.computeIfAbsent(p.topic().name(), k -> new ArrayList<>()).add(p));
        byTopic.forEach((topic, pills) -> {
            Waits.until(pills.size() + " dead letters from " + application + " for " + topic, WAIT,
                    () -> lettersOf(tail, application, topic).size() >= pills.size());
            List<DeadLetter> letters = lettersOf(tail, application, topic);
            assertThat(letters).as("dead letters of %s for %s", application, topic).hasSize(pills.size());
            for (Pill p : pills) {
                // the exact bytes, or (a pill as large as a topic that is as large as dead-letters) a prefix with
                // the cut said in the error message
                List<String> carried = letters.stream().map(d -> d.getValue() == null ? "none" : digest(bytes(d.getValue()))).toList();
                boolean whole = carried.contains(digest(p.value()));
                boolean cut = letters.stream().anyMatch(d -> d.getValue() != null
                        && d.getErrorMessage().toString().contains("value cut from " + p.value().length)
                        && Arrays.equals(bytes(d.getValue()), Arrays.copyOf(p.value(), d.getValue().remaining())));
                assertThat(whole || cut).as("%s on %s: a dead letter carries its %d bytes (or says where it cut them); carried %s",
                        p.name(), topic, p.value().length, carried).isTrue();
                assertThat(letters).allSatisfy(d -> {
                    assertThat(d.getErrorMessage().toString()).isNotBlank();
                    assertThat(d.getOffset()).isGreaterThanOrEqualTo(0);
                });
            }
        });
    }

    @Test
    void shouldDeadLetterEveryPillOnEveryStreamsInputAndKeepAssemblingTurns() {
        TestBroker broker = keep(TestBroker.start(tmp.resolve("kafka"), 2));
        Writer w = keep(new Writer(broker.settings(), Roles.SERDE));
        Tail tail = keep(new Tail(broker.settings(), Roles.SERDE, Topics.DEAD_LETTERS, Topics.TURN_REQUESTS,
                Topics.TRANSCRIPTS, Topics.TURN_METRICS));
        StreamsRole streams = keep(Roles.startStreams(broker.settings(), "poison-streams", tmp.resolve("state")));
        String bad = "poison-" + UUID.randomUUID();
        String good = "good-" + UUID.randomUUID();
        byte[] aDelta = w.bytes(Topics.RESPONSE_TEXT, Events.delta(bad, 0, 0, 0, "x", true));
        byte[] aSegment = w.bytes(Topics.CALLER_AUDIO, Events.segment(bad, 0, 0, 1600, false));

        // Given pills on each of the four inputs, plus the role's own limit: a 3 s segment (cap 2 s)
        List<Pill> sent = new ArrayList<>();
        sent.addAll(pills(Topics.CALLER_AUDIO, bad, aDelta));
        sent.add(new Pill("segment-over-2s", Topics.CALLER_AUDIO, bad,
                w.bytes(Topics.CALLER_AUDIO, Events.segment(bad, 0, 1, 48_000, false))));
        sent.addAll(pills(Topics.CALL_EVENTS, bad, aSegment));
        sent.addAll(pills(Topics.RESPONSE_TEXT, bad, aSegment));
        sent.addAll(pills(Topics.RESPONSE_AUDIO, bad, aDelta));
        long t0 = System.nanoTime();
        sent.forEach(p -> w.sendRaw(p.topic(), p.key(), p.value()));
        // And a value past max.message.bytes, which the broker refuses at the door
        byte[] tooLarge = new byte[Topics.CALLER_AUDIO.maxMessageBytes() + 1024];
        assertThatThrownBy(() -> w.sendRaw(Topics.CALLER_AUDIO, bad, tooLarge)).hasRootCauseInstanceOf(RecordTooLargeException.class);

        // Then every pill is a dead letter with its bytes and the error, counted per topic
        assertDeadLettered(tail, ConversationConfig.defaults().applicationId(), sent);
        long handledMs = (System.nanoTime() - t0) / 1_000_000;
        TopologyMetrics m = streams.metrics();
        for (Topic<?> t : List.of(Topics.CALLER_AUDIO, Topics.CALL_EVENTS, Topics.RESPONSE_TEXT, Topics.RESPONSE_AUDIO)) {
            long counted = m.snapshot().entrySet().stream().filter(e -> e.getKey().startsWith(TopologyMetrics.DEAD_LETTERS + "{" + t.name() + ","))
                    .mapToLong(Map.Entry::getValue).sum();
            assertThat(counted).as("dead_letters counted for %s", t.name())
                    .isEqualTo(sent.stream().filter(p -> p.topic() == t).count());
        }
        assertThat(streams.isRunning()).isTrue();

        // When good records follow on every input
        w.send(Topics.CALL_EVENTS, good, Events.callStarted(good));
        for (int seq = 0; seq < 3; seq++) {
            w.send(Topics.CALLER_AUDIO, good, Events.segment(good, 0, seq, 1600, seq == 2));
        }
        TurnRequest first = tail.await(Topics.TURN_REQUESTS, r -> r.getCallId().toString().equals(good), WAIT, "turn 0 of the good call");
        w.send(Topics.RESPONSE_AUDIO, good, Events.chunk(good, 0, 0, 0, new byte[640], false));
        w.send(Topics.RESPONSE_TEXT, good, Events.delta(good, 0, 0, 0, "still flowing", true));
        for (int seq = 0; seq < 3; seq++) {
            w.send(Topics.CALLER_AUDIO, good, Events.segment(good, 1, seq, 1600, seq == 2));
        }
        TurnRequest second = tail.await(Topics.TURN_REQUESTS, r -> r.getCallId().toString().equals(good) && r.getTurnId() == 1,
                WAIT, "turn 1 of the good call");
        w.send(Topics.CALL_EVENTS, good, Events.callEnded(good, EndReason.CALLER_HANGUP));

        // Then caller-audio, response-text, call-events and response-audio all still flow
        assertThat(first.getTurnId()).isZero();
        assertThat(second.getHistory()).extracting(ConversationTurn::getAssistantText).containsExactly("still flowing");
        Transcript transcript = tail.await(Topics.TRANSCRIPTS, t -> t.getCallId().toString().equals(good) && t.getEnded(),
                WAIT, "the good call's ended transcript");
        TurnMetrics metrics = tail.await(Topics.TURN_METRICS, t -> t.getCallId().toString().equals(good),
                WAIT, "turn metrics of the good call (from its response-audio chunk)");
        assertThat(transcript.getEnded()).isTrue();
        assertThat(metrics.getTurnId()).isZero();
        Figures.note("streams: %d pills on 4 topics dead-lettered in %d ms; metrics %s", sent.size(), handledMs,
                m.snapshot());
        Figures.line("test=poison-streams pills=%d dead_letters=%d lost=0 refused_by_broker=1 handled_ms=%d running=%s",
                sent.size(), m.get(TopologyMetrics.DEAD_LETTERS), handledMs, streams.isRunning());
    }

    @Test
    void shouldDeadLetterEveryPillOnWorkerInputsAndStillAnswerTheNextTurn() {
        TestBroker broker = keep(TestBroker.start(tmp.resolve("kafka"), 2));
        Writer w = keep(new Writer(broker.settings(), Roles.SERDE));
        Tail tail = keep(new Tail(broker.settings(), Roles.SERDE, Topics.DEAD_LETTERS, Topics.RESPONSE_TEXT));
        Roles.Worker worker = keep(new Roles.Worker(Roles.workerProperties(broker.bootstrapServers(), "poison-worker",
                "poison-workers", 24)));
        String bad = "poison-" + UUID.randomUUID();
        String good = "good-" + UUID.randomUUID();
        byte[] aSegment = w.bytes(Topics.CALLER_AUDIO, Events.segment(bad, 0, 0, 1600, false));

        // Given pills on turn-requests and call-events, plus the worker's own checks: 61 s of audio (cap 60 s),
        // a key that is not the request's call ID
        List<Pill> sent = new ArrayList<>();
        sent.addAll(pills(Topics.TURN_REQUESTS, bad, aSegment));
        sent.add(new Pill("audio-over-60s", Topics.TURN_REQUESTS, bad,
                w.bytes(Topics.TURN_REQUESTS, Events.turnRequest(bad, 0, new byte[61 * 32_000]))));
        sent.add(new Pill("key-mismatch", Topics.TURN_REQUESTS, "other-call",
                w.bytes(Topics.TURN_REQUESTS, Events.turnRequest(bad, 1, Events.utterance(0.3, 1)))));
        sent.addAll(pills(Topics.CALL_EVENTS, bad, aSegment));
        long t0 = System.nanoTime();
        sent.forEach(p -> w.sendRaw(p.topic(), p.key(), p.value()));

        // Then each is a dead letter, counted, and the worker loop lives on
        assertDeadLettered(tail, "worker:poison-worker", sent);
        long handledMs = (System.nanoTime() - t0) / 1_000_000;
        assertThat(worker.metrics.deadLettersTotal()).isEqualTo(sent.size());
        assertThat(worker.isAlive()).isTrue();

        // When a good request follows
        w.send(Topics.TURN_REQUESTS, good, Events.turnRequest(good, 0, Events.utterance(0.5, 3)));
        TextDelta last = tail.await(Topics.RESPONSE_TEXT, d -> d.getCallId().toString().equals(good) && d.getLast(),
                WAIT, "the good turn's last delta");

        // Then it is answered in full and nothing stays uncommitted
        assertThat(last.getCancelled()).isFalse();
        long lagMs = Waits.until("worker group lag 0", WAIT,
                () -> w.lag("poison-workers", List.of(Topics.TURN_REQUESTS, Topics.CALL_EVENTS)) == 0);
        Figures.note("worker: %d pills dead-lettered in %d ms; metrics %s", sent.size(), handledMs, worker.metrics);
        Figures.line("test=poison-worker pills=%d dead_letters=%d lost=0 handled_ms=%d lag_zero_ms=%d",
                sent.size(), worker.metrics.deadLettersTotal(), handledMs, lagMs);
    }

    @Test
    void shouldDeadLetterEveryPillOnResponseAudioAndStillPlayTheNextChunk() throws Exception {
        TestBroker broker = keep(TestBroker.start(tmp.resolve("kafka"), 2));
        Writer w = keep(new Writer(broker.settings(), Roles.SERDE));
        Tail tail = keep(new Tail(broker.settings(), Roles.SERDE, Topics.DEAD_LETTERS, Topics.CALL_EVENTS));
        Roles.Bridge bridge = keep(new Roles.Bridge(broker.settings(), "poison-bridge", FreePorts.udpAndTcp(), 4, 5, 20));
        // Given a live call from sipp
        Path quiet = CallerAudio.quiet(tmp, "quiet", 2);
        SippCaller caller = SippCaller.start(tmp, "call_stream_until_bye.xml",
                Map.of("AUDIO", quiet.toString(), "LOOPS", "-1", "WAIT_MS", "60000"), bridge.sipPort, 1, 1, 1);
        String callId = tail.await(Topics.CALL_EVENTS, e -> e.getPayload() instanceof CallStarted, WAIT, "CallStarted")
                .getCallId().toString();
        byte[] aDelta = w.bytes(Topics.RESPONSE_TEXT, Events.delta(callId, 0, 0, 0, "x", true));

        // When pills arrive on response-audio for that call, plus a chunk at 44.1 kHz (the bridge plays 8, 16 and 24 kHz)
        List<Pill> sent = new ArrayList<>(pills(Topics.RESPONSE_AUDIO, callId, aDelta));
        AudioChunk at44k = AudioChunk.newBuilder(Events.chunk(callId, 0, 0, 0, new byte[640], false)).setSampleRate(44100).build();
        sent.add(new Pill("wrong-sample-rate", Topics.RESPONSE_AUDIO, callId, w.bytes(Topics.RESPONSE_AUDIO, at44k)));
        long t0 = System.nanoTime();
        sent.forEach(p -> w.sendRaw(p.topic(), p.key(), p.value()));

        // Then each is a dead letter and counted
        assertDeadLettered(tail, "bridge-poison-bridge", sent);
        long handledMs = (System.nanoTime() - t0) / 1_000_000;
        assertThat(bridge.kafkaErrors("deserialize") + bridge.kafkaErrors("bridge")).isEqualTo(sent.size());

        // And a good one second reply still plays to the caller
        long sentBefore = bridge.media.sent.sum();
        byte[] second = Events.utterance(1.0, 5);
        w.send(Topics.RESPONSE_AUDIO, callId, Events.chunk(callId, 0, 1, 0, second, true));
        Waits.until("the reply's packets sent", WAIT, () -> bridge.media.sent.sum() - sentBefore >= 45);
        assertThat(bridge.liveCalls()).containsExactly(callId);
        bridge.server.stop();
        assertThat(caller.await(30)).as(caller.errors()).isZero();
        Figures.line("test=poison-bridge pills=%d dead_letters=%d lost=0 handled_ms=%d packets_after=%d",
                sent.size(), sent.size(), handledMs, bridge.media.sent.sum() - sentBefore);
    }
}
