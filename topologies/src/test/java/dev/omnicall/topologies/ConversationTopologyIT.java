package dev.omnicall.topologies;

import dev.omnicall.events.AudioSegment;
import dev.omnicall.events.BargeIn;
import dev.omnicall.events.ConversationTurn;
import dev.omnicall.events.DeadLetter;
import dev.omnicall.events.TextDelta;
import dev.omnicall.events.Transcript;
import dev.omnicall.events.TranscriptTurn;
import dev.omnicall.events.TurnRequest;
import dev.omnicall.kafka.EmbeddedKafka;
import dev.omnicall.kafka.SerdeConfig;
import dev.omnicall.kafka.Topic;
import dev.omnicall.kafka.Topics;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.KafkaStreams;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The streams role on the real embedded broker: two turns with history, a restart that must restore the
 * context from its changelog, and a corrupt record that must reach the dead-letter topic while the next good
 * record still flows; the caller's words (caller-text) reaching the transcript and the next turn's history,
 * and a barge-in cutting the transcript to what the caller heard.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class ConversationTopologyIT {

    private static final SerdeConfig SERDES = SerdeConfig.embedded();
    private static final String CALL = "it-call-1";
    private static EmbeddedKafka kafka;

    @TempDir
    static Path tmp;

    @BeforeAll
    static void startBroker() {
        kafka = EmbeddedKafka.start(EmbeddedKafka.Options.forTests().withPartitions(3));
        kafka.createTopics();
    }

    @AfterAll
    static void stopBroker() {
        if (kafka != null) {
            kafka.close();
        }
    }

    private static StreamsRole startStreams(Path stateDir) {
        return startStreams("omnicall-streams-it", stateDir);
    }

    private static StreamsRole startStreams(String applicationId, Path stateDir) {
        StreamsSettings settings = new StreamsSettings(applicationId, stateDir, 20, true, 1);
        StreamsRole role = new StreamsRole(kafka.settings(), SERDES, settings, ConversationConfig.defaults());
        role.start();
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (role.state() != KafkaStreams.State.RUNNING && System.nanoTime() < deadline) {
            sleep(50);
        }
        assertThat(role.state()).isEqualTo(KafkaStreams.State.RUNNING);
        return role;
    }

    @Test
    void shouldCarryHistorySurviveARestartAndDeadLetterACorruptRecord() throws Exception {
        try (var producer = new KafkaProducer<>(kafka.settings().producer("it"), new StringSerializer(), new ByteArraySerializer());
             var requests = consumer(Topics.TURN_REQUESTS);
             var deadLetters = consumer(Topics.DEAD_LETTERS)) {

            // Given the streams role is running
            StreamsRole streams = startStreams(tmp.resolve("state-a"));

            // When turn 0 arrives and the worker answers it
            sendUtterance(producer, 0);
            TurnRequest first = poll(requests, 1).get(0);
            assertThat(first.getTurnId()).isZero();
            assertThat(first.getHistory()).isEmpty();
            assertThat(first.getAudio().remaining()).isEqualTo(3 * 1600 * 2);
            reply(producer, 0, "First answer");

            // Then turn 1 carries turn 0
            sendUtterance(producer, 1);
            TurnRequest second = poll(requests, 1).get(0);
            assertThat(second.getHistory()).extracting(ConversationTurn::getAssistantText).containsExactly("First answer");
            reply(producer, 1, "Second answer");

            // When the streams role restarts on an EMPTY state directory (restore from the changelog topics)
            Thread.sleep(200);   // let the last commit land
            streams.close();
            streams = startStreams(tmp.resolve("state-b"));

            // Then the context survived: turn 2 carries both turns
            sendUtterance(producer, 2);
            TurnRequest third = poll(requests, 1).get(0);
            assertThat(third.getHistory()).extracting(ConversationTurn::getAssistantText)
                    .containsExactly("First answer", "Second answer");

            // When a corrupt record arrives, followed by a good utterance
            producer.send(new ProducerRecord<>(Topics.CALLER_AUDIO.name(), CALL, new byte[]{0, 0, 0, 0, 2, 42, 42, 42})).get();
            sendUtterance(producer, 3);

            // Then it is a dead letter with its original bytes and the error, and the good record still flows
            DeadLetter letter = poll(deadLetters, 1).get(0);
            assertThat(letter.getSourceTopic()).isEqualTo(Topics.CALLER_AUDIO.name());
            assertThat(letter.getErrorMessage()).contains("AudioSegment");
            assertThat(letter.getValue().remaining()).isEqualTo(8);
            assertThat(poll(requests, 1).get(0).getTurnId()).isEqualTo(3);
            streams.close();
        }
    }

    @Test
    void shouldPutTheCallersWordsIntoTheTranscriptAndTheNextTurnsHistoryAndCutABargedInReply() throws Exception {
        String call = "it-call-2";
        try (var producer = new KafkaProducer<>(kafka.settings().producer("it-caller"), new StringSerializer(), new ByteArraySerializer());
             var requests = consumer(Topics.TURN_REQUESTS);
             var transcripts = consumer(Topics.TRANSCRIPTS);
             StreamsRole streams = startStreams("omnicall-streams-it-caller", tmp.resolve("state-caller"))) {

            // Given a call whose turn 0 was requested
            var events = Topics.CALL_EVENTS.valueSerde(SERDES).serializer();
            producer.send(new ProducerRecord<>(Topics.CALL_EVENTS.name(), call, events.serialize("", ConversationDriver.started(call)))).get();
            sendUtterance(producer, call, 0);
            assertThat(pollUntil(requests, r -> r.getCallId().equals(call)).getTurnId()).isZero();

            // When the worker's transcription of the caller and its reply go through the broker
            var texts = Topics.CALLER_TEXT.valueSerde(SERDES).serializer();
            producer.send(new ProducerRecord<>(Topics.CALLER_TEXT.name(), call, texts.serialize("",
                    ConversationDriver.callerText(call, 0, 0, "When are you open on Saturdays?")))).get();
            reply(producer, call, 0, "We open at ten on Saturdays.");

            // Then the transcript holds both sides of turn 0
            Transcript t0 = pollUntil(transcripts, t -> t.getCallId().equals(call) && t.getTurns().size() == 1
                    && !t.getTurns().get(0).getAssistantText().isEmpty());
            assertThat(t0.getTurns().get(0).getUserText()).isEqualTo("When are you open on Saturdays?");
            assertThat(t0.getTurns().get(0).getAssistantText()).isEqualTo("We open at ten on Saturdays.");

            // And the next turn's request carries the caller's words in its history
            sendUtterance(producer, call, 1);
            TurnRequest second = pollUntil(requests, r -> r.getCallId().equals(call) && r.getTurnId() == 1);
            assertThat(second.getHistory()).extracting(ConversationTurn::getUserText)
                    .containsExactly("When are you open on Saturdays?");

            // When the caller barges in on turn 1's reply having heard "And on Sun" (10 characters)
            reply(producer, call, 1, "And on Sundays we are closed.");
            producer.send(new ProducerRecord<>(Topics.CALL_EVENTS.name(), call, events.serialize("",
                    ConversationDriver.event(call, new BargeIn(1, 0, 700, 10, false))))).get();

            // Then the transcript keeps only the words heard, and the generated length
            Transcript cut = pollUntil(transcripts, t -> t.getCallId().equals(call) && t.getTurns().size() == 2
                    && t.getTurns().get(1).getInterrupted());
            TranscriptTurn t1 = cut.getTurns().get(1);
            assertThat(t1.getAssistantText()).isEqualTo("And on");
            assertThat(t1.getGeneratedChars()).isEqualTo("And on Sundays we are closed.".length());
            assertThat(cut.getTurns().get(0).getUserText()).isEqualTo("When are you open on Saturdays?");
        }
    }

    private static void sendUtterance(KafkaProducer<String, byte[]> producer, int utterance) throws Exception {
        sendUtterance(producer, CALL, utterance);
    }

    private static void sendUtterance(KafkaProducer<String, byte[]> producer, String call, int utterance) throws Exception {
        var ser = Topics.CALLER_AUDIO.valueSerde(SERDES).serializer();
        for (int seq = 0; seq < 3; seq++) {
            AudioSegment s = ConversationDriver.segment(call, utterance, seq, 1600, seq == 2);
            producer.send(new ProducerRecord<>(Topics.CALLER_AUDIO.name(), call, ser.serialize("", s))).get();
        }
    }

    private static void reply(KafkaProducer<String, byte[]> producer, int turn, String text) throws Exception {
        reply(producer, CALL, turn, text);
    }

    private static void reply(KafkaProducer<String, byte[]> producer, String call, int turn, String text) throws Exception {
        var ser = Topics.RESPONSE_TEXT.valueSerde(SERDES).serializer();
        String[] words = text.split("(?= )");
        for (int i = 0; i < words.length; i++) {
            TextDelta delta = ConversationDriver.delta(call, turn, 0, i, words[i], i == words.length - 1);
            producer.send(new ProducerRecord<>(Topics.RESPONSE_TEXT.name(), call, ser.serialize("", delta))).get();
        }
    }

    /** The first record that matches, within 60 s; the ones before it are skipped. */
    private static <V> V pollUntil(KafkaConsumer<String, V> consumer, Predicate<V> wanted) {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (System.nanoTime() < deadline) {
            for (var r : consumer.poll(Duration.ofMillis(100))) {
                if (wanted.test(r.value())) {
                    return r.value();
                }
            }
        }
        throw new AssertionError("no matching record within 60 s");
    }

    private static <V extends SpecificRecord> KafkaConsumer<String, V> consumer(Topic<V> topic) {
        Map<String, Object> props = kafka.settings().consumer("it-" + topic.name(), "it-" + topic.name());
        var c = new KafkaConsumer<>(props, new StringDeserializer(), topic.valueSerde(SERDES).deserializer());
        c.subscribe(List.of(topic.name()));
        return c;
    }

    /**
     * The next {@code n} records of {@link #CALL}, within 60 s. Records of other calls are skipped: the other
     * test's streams application, started on the same topics from the earliest offsets, re-emits its call's.
     */
    private static <V> List<V> poll(KafkaConsumer<String, V> consumer, int n) {
        List<V> out = new ArrayList<>();
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (out.size() < n && System.nanoTime() < deadline) {
            consumer.poll(Duration.ofMillis(100)).forEach(r -> {
                if (CALL.equals(r.key())) {
                    out.add(r.value());
                }
            });
        }
        assertThat(out).as("records within 60 s").hasSizeGreaterThanOrEqualTo(n);
        return out;
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
