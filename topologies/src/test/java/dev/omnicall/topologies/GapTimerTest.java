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
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.MockProcessorContext;
import org.apache.kafka.streams.processor.api.MockProcessorContext.CapturedPunctuator;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.StoreBuilder;
import org.apache.kafka.streams.state.Stores;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The gap-timeout punctuator runs only while an ended utterance waits for missing segments. Kafka Streams marks a
 * task for commit after every punctuation (stores and producer flushed), so a punctuator scheduled for good made an
 * idle stream thread commit each task every 250 ms (issue 16, idle app). A TopologyTestDriver does not show which
 * punctuators are scheduled; the mock context does.
 */
class GapTimerTest {

    private static final String CALL = "call-gap";
    private static final Duration GAP = ConversationConfig.defaults().gapTimeout();

    private final SerdeConfig serdes = SerdeConfig.embedded();
    private final Serde<AudioSegment> segmentSerde = Topics.CALLER_AUDIO.valueSerde(serdes);
    private final MockProcessorContext<String, SpecificRecord> context = new MockProcessorContext<>();
    private KeyValueStore<String, UtteranceProgress> progress;
    private long nowMs = 1_000_000L;

    @BeforeEach
    void stores() {
        addStore(Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore(ConversationTopology.SEGMENT_STORE),
                Serdes.String(), segmentSerde));
        progress = addStore(Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore(ConversationTopology.PROGRESS_STORE),
                Serdes.String(), StateSerdes.singleObject(UtteranceProgress.class, StateSerdes.UTTERANCE_PROGRESS_V1)));
        addStore(Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore(ConversationTopology.CONTEXT_STORE),
                Serdes.String(), StateSerdes.singleObject(ConversationState.class, StateSerdes.CONVERSATION_STATE_V1)));
        addStore(Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore(ConversationTopology.SPECULATION_STORE),
                Serdes.String(), StateSerdes.singleObject(SpeculationState.class)));
        addStore(Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore(ConversationTopology.ACTIVITY_STORE),
                Serdes.String(), CallActivity.serde()));
        context.setCurrentSystemTimeMs(nowMs);
    }

    @Test
    void shouldScheduleNoPunctuatorWhileNoUtteranceWaits() {
        // Given an assembler on empty stores
        UtteranceAssembler assembler = assembler();

        // When a whole utterance arrives and goes out
        send(assembler, ConversationDriver.segment(CALL, 0, 0, 160, false));
        send(assembler, ConversationDriver.segment(CALL, 0, 1, 160, true));

        // Then it went out, and nothing was ever scheduled
        assertThat(context.forwarded()).hasSize(1);
        assertThat(context.scheduledPunctuators()).isEmpty();
    }

    @Test
    void shouldPunctuateWhileAnUtteranceMissesASegmentAndStopOnceItIsSent() {
        // Given an assembler, and an utterance whose end arrived without its segment 1
        UtteranceAssembler assembler = assembler();
        send(assembler, ConversationDriver.segment(CALL, 0, 0, 160, false));
        send(assembler, ConversationDriver.segment(CALL, 0, 2, 160, true));

        // Then one wall-clock punctuator looks for it, a quarter of the gap timeout apart
        assertThat(context.scheduledPunctuators()).singleElement().satisfies(p -> {
            assertThat(p.getType()).isEqualTo(PunctuationType.WALL_CLOCK_TIME);
            assertThat(p.getInterval()).isEqualTo(GAP.dividedBy(4));
            assertThat(p.cancelled()).isFalse();
        });
        CapturedPunctuator timer = context.scheduledPunctuators().get(0);

        // When it runs before the gap timeout, it sends nothing and keeps running
        punctuate(timer, GAP.toMillis() / 2);
        assertThat(context.forwarded()).isEmpty();
        assertThat(timer.cancelled()).isFalse();

        // When it runs past the gap timeout
        punctuate(timer, GAP.toMillis());

        // Then the utterance goes out without the missing segment, and the punctuator is cancelled
        assertThat(context.forwarded()).singleElement().satisfies(f ->
                assertThat(((TurnRequest) f.record().value()).getAudio().remaining()).isEqualTo(2 * 160 * 2));
        assertThat(timer.cancelled()).isTrue();

        // And a later utterance with a gap schedules it again
        send(assembler, ConversationDriver.segment(CALL, 1, 1, 160, true));
        assertThat(context.scheduledPunctuators()).hasSize(2);
        assertThat(context.scheduledPunctuators().get(1).cancelled()).isFalse();
    }

    @Test
    void shouldStopPunctuatingWhenTheMissingSegmentCompletesTheUtterance() {
        UtteranceAssembler assembler = assembler();
        send(assembler, ConversationDriver.segment(CALL, 0, 1, 160, true));
        CapturedPunctuator timer = context.scheduledPunctuators().get(0);

        // When the late segment 0 completes it, it goes out at once
        send(assembler, ConversationDriver.segment(CALL, 0, 0, 160, false));
        assertThat(context.forwarded()).hasSize(1);

        // Then the next run finds nothing waiting and cancels itself
        punctuate(timer, GAP.toMillis() / 4);
        assertThat(timer.cancelled()).isTrue();
        assertThat(context.forwarded()).hasSize(1);
    }

    @Test
    void shouldPunctuateFromTheStartWhenRestoredStateHoldsAWaitingUtterance() {
        // Given state restored after a restart: an utterance ended 100 ms ago, missing a segment
        progress.put(StoreKeys.utterance(CALL, 3), UtteranceProgress.newBuilder().setUtteranceId(3).setLastSeq(2)
                .setSegments(2).setEndSeenUs((nowMs - 100) * 1000).build());

        // When the assembler opens on it
        assembler();

        // Then the punctuator runs, and sends it once its gap timeout has passed
        CapturedPunctuator timer = context.scheduledPunctuators().get(0);
        punctuate(timer, GAP.toMillis());
        assertThat(context.forwarded()).singleElement()
                .satisfies(f -> assertThat(((TurnRequest) f.record().value()).getTurnId()).isEqualTo(3));
        assertThat(timer.cancelled()).isTrue();
    }

    private UtteranceAssembler assembler() {
        UtteranceAssembler assembler = new UtteranceAssembler(segmentSerde.deserializer(), ConversationConfig.defaults(),
                new TopologyMetrics());
        assembler.init(context);
        return assembler;
    }

    /** Moves the processor's clock on by {@code ms} and runs the punctuator at that time. */
    private void punctuate(CapturedPunctuator timer, long ms) {
        nowMs += ms;
        context.setCurrentSystemTimeMs(nowMs);
        timer.getPunctuator().punctuate(nowMs);
    }

    private <S extends KeyValueStore<?, ?>> S addStore(StoreBuilder<S> builder) {
        S store = builder.withLoggingDisabled().build();
        store.init(context.getStateStoreContext(), store);
        context.addStateStore(store);
        return store;
    }

    private void send(UtteranceAssembler assembler, AudioSegment segment) {
        byte[] value = segmentSerde.serializer().serialize(Topics.CALLER_AUDIO.name(), segment);
        assembler.process(new Record<>(CALL.getBytes(StandardCharsets.UTF_8), value, nowMs));
    }
}
