package dev.omnicall.topologies;

import dev.omnicall.events.AudioSegment;
import dev.omnicall.events.TurnRequest;
import dev.omnicall.kafka.SerdeConfig;
import dev.omnicall.kafka.Topics;
import dev.omnicall.state.ConversationState;
import dev.omnicall.state.SpeculationState;
import dev.omnicall.state.UtteranceProgress;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.processor.api.MockProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.StoreBuilder;
import org.apache.kafka.streams.state.Stores;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The streams role polls for {@link StreamsSettings#POLL_MS} when idle, and under exactly-once a TurnRequest is
 * invisible to the worker until the next commit. So the assembler must ask for that commit itself as it sends the
 * request, and only then: a commit per audio segment would be a transaction per segment. (A TopologyTestDriver
 * commits after every record, so it cannot see this; the mock context records the request.)
 */
class TurnRequestCommitTest {

    private static final String CALL = "call-commit";
    private final SerdeConfig serdes = SerdeConfig.embedded();
    private final Serde<AudioSegment> segmentSerde = Topics.CALLER_AUDIO.valueSerde(serdes);
    private final MockProcessorContext<String, SpecificRecord> context = new MockProcessorContext<>();

    @Test
    void shouldAskForACommitWhenItSendsATurnRequestAndNotBefore() {
        // Given an assembler with its stores
        UtteranceAssembler assembler = new UtteranceAssembler(segmentSerde.deserializer(), ConversationConfig.defaults(),
                new TopologyMetrics());
        addStore(Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore(ConversationTopology.SEGMENT_STORE),
                Serdes.String(), segmentSerde));
        addStore(Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore(ConversationTopology.PROGRESS_STORE),
                Serdes.String(), StateSerdes.singleObject(UtteranceProgress.class, StateSerdes.UTTERANCE_PROGRESS_V1)));
        addStore(Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore(ConversationTopology.CONTEXT_STORE),
                Serdes.String(), StateSerdes.singleObject(ConversationState.class, StateSerdes.CONVERSATION_STATE_V1)));
        addStore(Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore(ConversationTopology.SPECULATION_STORE),
                Serdes.String(), StateSerdes.singleObject(SpeculationState.class)));
        addStore(Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore(ConversationTopology.ACTIVITY_STORE),
                Serdes.String(), CallActivity.serde()));
        context.setCurrentSystemTimeMs(System.currentTimeMillis());
        assembler.init(context);

        // When the first two segments of an utterance arrive
        send(assembler, ConversationDriver.segment(CALL, 0, 0, 160, false));
        send(assembler, ConversationDriver.segment(CALL, 0, 1, 160, false));

        // Then nothing is sent and no commit is asked for
        assertThat(context.forwarded()).isEmpty();
        assertThat(context.committed()).as("commit requested for a segment that completes nothing").isFalse();

        // When its last segment arrives
        send(assembler, ConversationDriver.segment(CALL, 0, 2, 160, true));

        // Then the TurnRequest goes to its sink and the commit is asked for with it
        List<MockProcessorContext.CapturedForward<? extends String, ? extends SpecificRecord>> out = context.forwarded();
        assertThat(out).hasSize(1);
        assertThat(out.get(0).childName()).contains(ConversationTopology.TURN_REQUEST_SINK);
        assertThat(out.get(0).record().value()).isInstanceOf(TurnRequest.class);
        assertThat(((TurnRequest) out.get(0).record().value()).getAudio().remaining()).isEqualTo(3 * 160 * 2);
        assertThat(context.committed()).as("commit requested with the TurnRequest").isTrue();
    }

    private <S extends KeyValueStore<?, ?>> void addStore(StoreBuilder<S> builder) {
        S store = builder.withLoggingDisabled().build();
        store.init(context.getStateStoreContext(), store);
        context.addStateStore(store);
    }

    private void send(UtteranceAssembler assembler, AudioSegment segment) {
        byte[] value = segmentSerde.serializer().serialize(Topics.CALLER_AUDIO.name(), segment);
        assembler.process(new Record<>(CALL.getBytes(StandardCharsets.UTF_8), value, 1_000L));
    }
}
