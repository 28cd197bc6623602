package dev.omnicall.topologies;

import dev.omnicall.events.BargeIn;
import dev.omnicall.events.ConversationTurn;
import dev.omnicall.events.TurnRequest;
import dev.omnicall.state.ConversationState;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.streams.state.KeyValueStore;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class ConversationContextTest {

    private static final int SAMPLES = 1600;

    @RegisterExtension
    final TopologyFixture topology = new TopologyFixture();
    private ConversationDriver d = topology.open(ConversationConfig.defaults().withHistoryTurns(2, 1));

    private TurnRequest turn(String callId, int turnId) {
        d.sendUtterance(callId, turnId, 2, SAMPLES);
        return d.requests.readValue();
    }

    @Test
    void shouldCarryTheFirstTurnInTheSecondTurnRequest() {
        // Given turn 0 and the worker's streamed reply to it
        assertThat(turn("call-1", 0).getHistory()).isEmpty();
        d.reply("call-1", 0, 0, "Hello", ", how can", " I help?");

        // When the caller speaks again
        TurnRequest second = turn("call-1", 1);

        // Then the request carries turn 0: the whole reply, and the caller's audio of turn 0
        assertThat(second.getHistory()).hasSize(1);
        ConversationTurn first = second.getHistory().get(0);
        assertThat(first.getTurnId()).isZero();
        assertThat(first.getAssistantText()).isEqualTo("Hello, how can I help?");
        assertThat(first.getUserAudio()).isNotNull();
        assertThat(first.getUserAudio().remaining()).isEqualTo(2 * SAMPLES * 2);
        assertThat(first.getInterrupted()).isFalse();
    }

    @Test
    void shouldKeepOnlyTheLastNTurnsAndAudioOnlyForTheMostRecent() {
        for (int t = 0; t < 3; t++) {
            turn("call-1", t);
            d.reply("call-1", t, 0, "answer " + t);
        }

        TurnRequest fourth = turn("call-1", 3);

        List<ConversationTurn> h = fourth.getHistory();
        assertThat(h).extracting(ConversationTurn::getTurnId).containsExactly(1, 2);
        assertThat(h.get(0).getUserAudio()).as("older turn keeps text only").isNull();
        assertThat(h.get(1).getUserAudio()).as("latest turn keeps audio").isNotNull();
    }

    @Test
    void shouldIgnoreDuplicateDeltasAndAStaleAttempt() {
        turn("call-1", 0);
        d.text.pipeInput("call-1", ConversationDriver.delta("call-1", 0, 0, 0, "Hi", false));
        d.text.pipeInput("call-1", ConversationDriver.delta("call-1", 0, 0, 0, "Hi", false));   // redelivered
        d.text.pipeInput("call-1", ConversationDriver.delta("call-1", 0, 0, 1, " there", true));
        d.text.pipeInput("call-1", ConversationDriver.delta("call-1", 0, 0, 1, " there", true)); // after completion

        assertThat(turn("call-1", 1).getHistory()).extracting(ConversationTurn::getAssistantText).containsExactly("Hi there");
        assertThat(d.metrics.get(TopologyMetrics.DUPLICATE_DELTAS)).isEqualTo(2);
    }

    @Test
    void shouldTakeTheRetriedAttemptWhenTheFirstWorkerDiedMidReply() {
        turn("call-1", 0);
        d.text.pipeInput("call-1", ConversationDriver.delta("call-1", 0, 0, 0, "Partial", false));  // worker A dies
        d.reply("call-1", 0, 1, "Complete", " answer");                                            // worker B retries

        assertThat(turn("call-1", 1).getHistory()).extracting(ConversationTurn::getAssistantText)
                .containsExactly("Complete answer");
    }

    @Test
    void shouldMarkABargedInTurnInterrupted() {
        turn("call-1", 0);
        d.text.pipeInput("call-1", ConversationDriver.delta("call-1", 0, 0, 0, "Let me", false));
        d.events.pipeInput("call-1", ConversationDriver.event("call-1", new BargeIn(0, 0, -1, -1, false)));
        d.text.pipeInput("call-1", ConversationDriver.delta("call-1", 0, 0, 1, " explain", true));

        ConversationTurn t = turn("call-1", 1).getHistory().get(0);
        assertThat(t.getInterrupted()).isTrue();
        assertThat(t.getAssistantText()).isEqualTo("Let me explain");
    }

    @Test
    void shouldClearTheContextOnCallEnded() {
        turn("call-1", 0);
        d.reply("call-1", 0, 0, "Hello");

        d.events.pipeInput("call-1", ConversationDriver.ended("call-1"));

        // A call ID reused after the end (it starts with CallStarted, as every call does) starts with no history
        d.events.pipeInput("call-1", ConversationDriver.started("call-1"));
        assertThat(turn("call-1", 0).getHistory()).isEmpty();
        assertThat(d.metrics.get(TopologyMetrics.CALLS_CLEARED)).isEqualTo(1);
    }

    @Test
    void shouldNotBringTheContextBackWhenDeltasOfTheEndedCallArriveAfterCallEnded() {
        // Given a reply being generated when the call ends (regression test of BUG-3)
        turn("call-1", 0);
        d.text.pipeInput("call-1", ConversationDriver.delta("call-1", 0, 0, 0, "Let me", false));
        d.events.pipeInput("call-1", ConversationDriver.ended("call-1"));

        // When the worker's in-flight delta and its cancelled last delta arrive after the CallEnded
        d.text.pipeInput("call-1", ConversationDriver.delta("call-1", 0, 0, 1, " explain", false));
        d.text.pipeInput("call-1", dev.omnicall.events.TextDelta.newBuilder(ConversationDriver.delta("call-1", 0, 0, 2, "", true)).setCancelled(true).build());

        // Then no reply is collected into what the store keeps for the call's grace period (text only, for a late
        // CallerText), no transcript turn comes out, and both are counted (refused as records of an ended call,
        // before they reach the context)
        KeyValueStore<String, ConversationState> store = d.driver.getKeyValueStore(ConversationTopology.CONTEXT_STORE);
        assertThat(store.get("call-1").getDrafts()).isEmpty();
        assertThat(store.get("call-1").getTurns()).isEmpty();
        assertThat(d.metrics.get(TopologyMetrics.RECORDS_AFTER_CALL_ENDED + "{response-text}")).isEqualTo(2);
        assertThat(d.metrics.get(TopologyMetrics.TURNS_COMPLETED)).isZero();
        // And once the grace is over the store holds nothing for the call
        d.passEndedGrace();
        assertThat(store.get("call-1")).isNull();
    }

    @Test
    void shouldStillDropDeltasWithoutContextOnceTheEndIsForgotten() {
        // Given a call that ended longer ago than its end is remembered
        turn("call-1", 0);
        d.events.pipeInput("call-1", ConversationDriver.ended("call-1"));
        d.advanceWallClock(CallActivity.ENDED_MEMORY.plusMinutes(2));

        // When a very late delta of it arrives
        d.text.pipeInput("call-1", ConversationDriver.delta("call-1", 0, 0, 1, " explain", true));

        // Then the context rule still refuses it (BUG-3's fix is the second line of defence)
        KeyValueStore<String, ConversationState> store = d.driver.getKeyValueStore(ConversationTopology.CONTEXT_STORE);
        assertThat(store.get("call-1")).isNull();
        assertThat(d.metrics.get(TopologyMetrics.ENDED_CALLS_FORGOTTEN)).isEqualTo(1);
        assertThat(d.metrics.get(TopologyMetrics.DELTAS_WITHOUT_CONTEXT)).isEqualTo(1);
        assertThat(d.metrics.get(TopologyMetrics.TURNS_COMPLETED)).isZero();
    }

    @Test
    void shouldNotLeakHistoryBetweenCalls() {
        turn("call-a", 0);
        d.reply("call-a", 0, 0, "for a");

        assertThat(turn("call-b", 0).getHistory()).isEmpty();
        assertThat(turn("call-a", 1).getHistory()).hasSize(1);
    }

    @Test
    void shouldRestoreTheContextFromItsChangelogAfterARestart() {
        // Given a completed turn; every change to the context store also went to its changelog topic
        turn("call-1", 0);
        d.reply("call-1", 0, 0, "Remember me");
        var changelog = d.driver.createOutputTopic("omnicall-streams-" + ConversationTopology.CONTEXT_STORE + "-changelog",
                new StringDeserializer(), new ByteArrayDeserializer()).readKeyValuesToList();
        assertThat(changelog).isNotEmpty();
        d.close();

        // When a new instance starts with an empty store and restores it from the changelog, as Streams does
        // (TopologyTestDriver wipes local state on close; ConversationTopologyIT restarts against a real broker)
        d = topology.open(ConversationConfig.defaults().withHistoryTurns(2, 1));
        KeyValueStore<String, ConversationState> store = d.driver.getKeyValueStore(ConversationTopology.CONTEXT_STORE);
        var serde = StateSerdes.singleObject(ConversationState.class, StateSerdes.CONVERSATION_STATE_V1);
        changelog.forEach(kv -> {
            if (kv.value == null) {
                store.delete(kv.key);
            } else {
                store.put(kv.key, serde.deserializer().deserialize("changelog", kv.value));
            }
        });

        // Then the next turn still carries the history
        assertThat(turn("call-1", 1).getHistory()).extracting(ConversationTurn::getAssistantText)
                .containsExactly("Remember me");
    }

    @Test
    void shouldReadAContextWrittenBeforeTurnNotesExisted() throws Exception {
        // Given a context value as the previous build wrote it (ConversationState v1: no notes)
        org.apache.avro.Schema v1 = new org.apache.avro.Schema.Parser().parse(
                StateSerdes.class.getResourceAsStream(StateSerdes.CONVERSATION_STATE_V1));
        var turnSchema = v1.getField("turns").schema().getElementType();
        var turn = new org.apache.avro.generic.GenericData.Record(turnSchema);
        turn.put("turnId", 0);
        turn.put("assistantText", "from the old build");
        turn.put("interrupted", false);
        var state = new org.apache.avro.generic.GenericData.Record(v1);
        state.put("turns", List.of(turn));
        state.put("pending", List.of());
        state.put("drafts", List.of());
        var buf = new org.apache.avro.message.BinaryMessageEncoder<org.apache.avro.generic.GenericRecord>(
                org.apache.avro.generic.GenericData.get(), v1).encode(state);
        byte[] bytes = new byte[buf.remaining()];
        buf.get(bytes);

        // When this build reads it, as a restore from the changelog would
        ConversationState read = StateSerdes.singleObject(ConversationState.class, StateSerdes.CONVERSATION_STATE_V1)
                .deserializer().deserialize("changelog", bytes);

        // Then the turn is there and the new field takes its default
        assertThat(read.getTurns()).extracting(ConversationTurn::getAssistantText).containsExactly("from the old build");
        assertThat(read.getNotes()).isEmpty();
    }

    @Test
    void shouldDeadLetterACorruptTextDeltaAndKeepCollecting() {
        turn("call-1", 0);
        d.rawText.pipeInput("call-1".getBytes(), new byte[]{0, 0, 0, 0, 4, (byte) 0xff, (byte) 0xff});
        d.reply("call-1", 0, 0, "ok");

        assertThat(d.deadLetters.readValue().getErrorMessage()).contains("TextDelta");
        assertThat(turn("call-1", 1).getHistory()).hasSize(1);
    }
}
