package dev.omnicall.topologies;

import dev.omnicall.events.AudioChunk;
import dev.omnicall.events.AudioSegment;
import dev.omnicall.events.CallEvent;
import dev.omnicall.events.CallerText;
import dev.omnicall.events.DeadLetter;
import dev.omnicall.events.TextDelta;
import dev.omnicall.events.Transcript;
import dev.omnicall.events.TurnMetrics;
import dev.omnicall.events.TurnRequest;
import dev.omnicall.kafka.SerdeConfig;
import dev.omnicall.kafka.Topic;
import dev.omnicall.kafka.Topics;
import dev.omnicall.kafka.TurnTrace;
import dev.omnicall.state.ConversationState;
import dev.omnicall.state.PendingTurnMetrics;
import dev.omnicall.state.SpeculationState;
import dev.omnicall.state.UtteranceProgress;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.state.Stores;

import java.util.Map;

/**
 * The streams role: one topology over the co-partitioned call topics.
 *
 * <pre>
 *  caller-audio   ─▶ utterance-assembler ─┬─▶ turn-requests        (speculative ones open a turn in speculative-turns)
 *                                         │        (joined with history from conversation-context)
 *  response-text  ─▶ reply-collector ─────┼─▶ transcripts          (conversation-context, transcripts)
 *  caller-text    ─▶ caller-text-collector┼─▶ transcripts          (conversation-context, transcripts)
 *  call-events    ─▶ call-event-router ───┼─▶ transcripts, turn-metrics  (clears every store on CallEnded,
 *                                         │        and, every minute, those of calls idle past stateTtl)
 *  response-audio ─▶ first-chunk-timings ─┼─▶ turn-metrics
 *                    every processor ─────┴─▶ dead-letters
 * </pre>
 *
 * The pieces share state keyed by call ID, so they are one sub-topology: a call's records from every
 * topic are processed by the same task. Sources read raw bytes and the first processor decodes them, so a
 * record that cannot be read becomes a dead letter in the same transaction as the rest of the output. Every
 * processor first asks {@code call-activity} whether the call has ended; records of an ended call are
 * dropped and counted, so nothing brings back state that CallEnded cleared.
 */
public final class ConversationTopology {

    public static final String SEGMENT_STORE = "utterance-segments";
    public static final String PROGRESS_STORE = "utterance-progress";
    public static final String CONTEXT_STORE = "conversation-context";
    public static final String TRANSCRIPT_STORE = "transcripts-by-call";
    public static final String METRICS_STORE = "pending-turn-metrics";
    /** Per call: last seen, and whether it ended (see {@link CallActivity}); every processor consults it first. */
    public static final String ACTIVITY_STORE = "call-activity";
    /** Per call: speculative turns, open (their records held back) and recently resolved ({@link SpeculationGate}). */
    public static final String SPECULATION_STORE = "speculative-turns";

    static final String AUDIO_SOURCE = "caller-audio-source";
    static final String TEXT_SOURCE = "response-text-source";
    static final String EVENT_SOURCE = "call-events-source";
    static final String CHUNK_SOURCE = "response-audio-source";
    static final String CALLER_TEXT_SOURCE = "caller-text-source";
    static final String ASSEMBLER = "utterance-assembler";
    static final String REPLIES = "reply-collector";
    static final String EVENTS = "call-event-router";
    static final String CHUNKS = "first-chunk-timings";
    static final String CALLER_TEXTS = "caller-text-collector";
    static final String TURN_REQUEST_SINK = "turn-requests-sink";
    static final String TRANSCRIPT_SINK = "transcripts-sink";
    static final String TURN_METRICS_SINK = "turn-metrics-sink";
    static final String DEAD_LETTER_SINK = "dead-letters-sink";

    private ConversationTopology() {
    }

    public static Topology build(ConversationConfig config, SerdeConfig serdes, TopologyMetrics metrics) {
        return build(config, serdes, metrics, TurnTrace.RELAY);
    }

    /** With {@code trace} called as each TurnRequest goes out (its trace context header; {@link TurnTrace}). */
    public static Topology build(ConversationConfig config, SerdeConfig serdes, TopologyMetrics metrics, TurnTrace trace) {
        Serde<AudioSegment> segmentSerde = Topics.CALLER_AUDIO.valueSerde(serdes);
        Serde<TextDelta> textSerde = Topics.RESPONSE_TEXT.valueSerde(serdes);
        Serde<CallEvent> eventSerde = Topics.CALL_EVENTS.valueSerde(serdes);
        Serde<AudioChunk> chunkSerde = Topics.RESPONSE_AUDIO.valueSerde(serdes);
        Serde<CallerText> callerTextSerde = Topics.CALLER_TEXT.valueSerde(serdes);
        Serde<TurnRequest> requestSerde = Topics.TURN_REQUESTS.valueSerde(serdes);
        Serde<Transcript> transcriptSerde = Topics.TRANSCRIPTS.valueSerde(serdes);
        Serde<TurnMetrics> metricsSerde = Topics.TURN_METRICS.valueSerde(serdes);
        Serde<DeadLetter> deadLetterSerde = Topics.DEAD_LETTERS.valueSerde(serdes);
        ByteArrayDeserializer raw = new ByteArrayDeserializer();

        Topology t = new Topology();
        t.addSource(AUDIO_SOURCE, raw, raw, Topics.CALLER_AUDIO.name());
        t.addSource(TEXT_SOURCE, raw, raw, Topics.RESPONSE_TEXT.name());
        t.addSource(EVENT_SOURCE, raw, raw, Topics.CALL_EVENTS.name());
        t.addSource(CHUNK_SOURCE, raw, raw, Topics.RESPONSE_AUDIO.name());
        t.addSource(CALLER_TEXT_SOURCE, raw, raw, Topics.CALLER_TEXT.name());

        t.addProcessor(ASSEMBLER, () -> new UtteranceAssembler(segmentSerde.deserializer(), config, metrics, trace), AUDIO_SOURCE);
        t.addProcessor(REPLIES, () -> new ReplyCollector(textSerde.deserializer(), config, metrics), TEXT_SOURCE);
        t.addProcessor(EVENTS, () -> new CallEventRouter(eventSerde.deserializer(), textSerde.deserializer(),
                callerTextSerde.deserializer(), config, metrics), EVENT_SOURCE);
        t.addProcessor(CHUNKS, () -> new FirstChunkTimings(chunkSerde.deserializer(), config, metrics), CHUNK_SOURCE);
        t.addProcessor(CALLER_TEXTS, () -> new CallerTextCollector(callerTextSerde.deserializer(), config, metrics),
                CALLER_TEXT_SOURCE);

        Map<String, String> largeChangelog = Map.of("max.message.bytes", Integer.toString(Topic.LARGE_RECORD_BYTES));
        t.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(SEGMENT_STORE),
                Serdes.String(), segmentSerde), ASSEMBLER, EVENTS);
        t.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(PROGRESS_STORE),
                Serdes.String(), StateSerdes.singleObject(UtteranceProgress.class, StateSerdes.UTTERANCE_PROGRESS_V1)),
                ASSEMBLER, EVENTS);
        t.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(CONTEXT_STORE),
                Serdes.String(), StateSerdes.singleObject(ConversationState.class, StateSerdes.CONVERSATION_STATE_V1))
                .withLoggingEnabled(largeChangelog), ASSEMBLER, REPLIES, EVENTS, CALLER_TEXTS);
        t.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(TRANSCRIPT_STORE),
                Serdes.String(), transcriptSerde), REPLIES, EVENTS, CALLER_TEXTS);
        t.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(METRICS_STORE),
                Serdes.String(), StateSerdes.singleObject(PendingTurnMetrics.class)), EVENTS, CHUNKS);
        t.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(SPECULATION_STORE),
                Serdes.String(), StateSerdes.singleObject(SpeculationState.class)), ASSEMBLER, REPLIES, EVENTS, CHUNKS,
                CALLER_TEXTS);
        t.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(ACTIVITY_STORE),
                Serdes.String(), CallActivity.serde()), ASSEMBLER, REPLIES, EVENTS, CHUNKS, CALLER_TEXTS);

        StringSerializer keys = new StringSerializer();
        t.addSink(TURN_REQUEST_SINK, Topics.TURN_REQUESTS.name(), keys, requestSerde.serializer(), ASSEMBLER);
        t.addSink(TRANSCRIPT_SINK, Topics.TRANSCRIPTS.name(), keys, transcriptSerde.serializer(), REPLIES, EVENTS,
                CALLER_TEXTS);
        t.addSink(TURN_METRICS_SINK, Topics.TURN_METRICS.name(), keys, metricsSerde.serializer(), EVENTS, CHUNKS, REPLIES);
        t.addSink(DEAD_LETTER_SINK, Topics.DEAD_LETTERS.name(), keys, deadLetterSerde.serializer(),
                ASSEMBLER, REPLIES, EVENTS, CHUNKS, CALLER_TEXTS);
        return t;
    }
}
