package dev.omnicall.topologies;

import dev.omnicall.events.AudioChunk;
import dev.omnicall.events.DeadLetter;
import dev.omnicall.events.PlaybackStarted;
import dev.omnicall.events.TurnTimings;
import dev.omnicall.kafka.Topics;
import org.apache.kafka.streams.TestInputTopic;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.ByteBuffer;
import java.util.Map;
import java.util.function.Function;

import static org.assertj.core.api.Assertions.assertThat;

/** A bad record on any input topic becomes a dead letter, and the next good record still flows. */
class DeadLetterTopologyTest {

    @RegisterExtension
    final TopologyFixture topology = new TopologyFixture();
    private ConversationDriver d = topology.open(ConversationConfig.defaults());

    private Map<String, Function<ConversationDriver, TestInputTopic<byte[], byte[]>>> rawInputs() {
        return Map.of(Topics.CALLER_AUDIO.name(), x -> x.rawAudio, Topics.RESPONSE_TEXT.name(), x -> x.rawText,
                Topics.CALL_EVENTS.name(), x -> x.rawEvents, Topics.RESPONSE_AUDIO.name(), x -> x.rawChunks,
                Topics.CALLER_TEXT.name(), x -> x.rawCallerText);
    }

    @ParameterizedTest(name = "corrupt bytes on {0}")
    @ValueSource(strings = {"caller-audio", "response-text", "call-events", "response-audio", "caller-text"})
    void shouldDeadLetterCorruptBytesOnEveryInputTopic(String topic) {
        byte[] garbage = {0, 0, 0, 0, 1, (byte) 0xde, (byte) 0xad, (byte) 0xbe, (byte) 0xef};

        rawInputs().get(topic).apply(d).pipeInput("call-1".getBytes(), garbage);

        DeadLetter letter = d.deadLetters.readValue();
        assertThat(letter.getSourceTopic()).isEqualTo(topic);
        assertThat(letter.getStage()).isEqualTo("deserialize");
        assertThat(letter.getKey()).isEqualTo(ByteBuffer.wrap("call-1".getBytes()));
        assertThat(letter.getValue()).isEqualTo(ByteBuffer.wrap(garbage));
        assertThat(letter.getErrorClass()).contains("SerializationException");
        assertThat(d.metrics.get(TopologyMetrics.DEAD_LETTERS + "{" + topic + ",deserialize}")).isEqualTo(1);
    }

    @ParameterizedTest(name = "a record of the wrong schema on {0}")
    @ValueSource(strings = {"caller-audio", "response-text", "call-events", "response-audio", "caller-text"})
    void shouldDeadLetterARecordOfAnotherSchema(String topic) {
        byte[] transcript = Topics.TRANSCRIPTS.valueSerde(ConversationDriver.SERDES).serializer()
                .serialize("x", dev.omnicall.events.Transcript.newBuilder().setCallId("call-1")
                        .setTurns(java.util.List.of()).setUpdatedUs(1L).build());

        rawInputs().get(topic).apply(d).pipeInput("call-1".getBytes(), transcript);

        assertThat(d.deadLetters.readValue().getErrorMessage()).contains("written as Transcript");
    }

    @Test
    void shouldDeadLetterARecordWithoutKeyAndKeepGoingOnEveryTopic() {
        // Given bad records first on each topic
        d.rawEvents.pipeInput(null, Topics.CALL_EVENTS.valueSerde(ConversationDriver.SERDES).serializer()
                .serialize("x", ConversationDriver.started("call-1")));
        d.rawChunks.pipeInput("call-1".getBytes(), new byte[]{1});

        // When good records follow on every topic
        d.events.pipeInput("call-1", ConversationDriver.started("call-1"));
        d.sendUtterance("call-1", 0, 1, 160);
        d.reply("call-1", 0, 0, "fine");
        TurnTimings stamps = TurnTimings.newBuilder().setSpeechEndUs(1L).setFirstAudioUs(5L).build();
        d.chunks.pipeInput("call-1", AudioChunk.newBuilder().setCallId("call-1").setTurnId(0).setAttempt(0).setSeq(0)
                .setPcm(ByteBuffer.allocate(2)).setUnitCount(1).setLast(true).setTimings(stamps).build());
        d.events.pipeInput("call-1", ConversationDriver.event("call-1", new PlaybackStarted(0, 0, 6L, 9L, 0L)));

        // Then two dead letters, and every good record produced its output
        assertThat(d.deadLetters.readValuesToList()).hasSize(2);
        assertThat(d.requests.readValuesToList()).hasSize(1);
        assertThat(d.transcripts.readValuesToList()).hasSize(3);   // started, turn 0, turn 0 dated by PlaybackStarted
        assertThat(d.turnMetrics.readValue().getFirstAudioLatencyUs()).isEqualTo(8L);
    }
}
