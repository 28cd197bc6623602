package dev.omnicall.topologies;

import dev.omnicall.events.TextDelta;
import dev.omnicall.events.Transcript;
import dev.omnicall.events.TurnMetrics;
import dev.omnicall.kafka.Topics;
import dev.omnicall.state.ConversationState;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * Conversation context, assistant side: collects the worker's TextDeltas into the reply of each turn; a
 * complete reply joins the call's history and its transcript.
 */
final class ReplyCollector extends DecodingProcessor<TextDelta> {

    private ConversationContext conversation;
    private TranscriptBook transcripts;
    private SpeculationGate speculation;

    ReplyCollector(Deserializer<TextDelta> deserializer, ConversationConfig config, TopologyMetrics metrics) {
        super(Topics.RESPONSE_TEXT, deserializer, config, metrics);
    }

    @Override
    protected void open() {
        KeyValueStore<String, ConversationState> ctx = context.getStateStore(ConversationTopology.CONTEXT_STORE);
        conversation = new ConversationContext(ctx, config, metrics);
        transcripts = new TranscriptBook(context.getStateStore(ConversationTopology.TRANSCRIPT_STORE),
                config.redactTranscripts());
        speculation = new SpeculationGate(context.getStateStore(ConversationTopology.SPECULATION_STORE), metrics);
    }

    @Override
    protected String callIdOf(TextDelta value) {
        return value.getCallId();
    }

    @Override
    protected void handle(String callId, TextDelta delta, long timestamp) {
        if (delta.getTurnId() < 0 || delta.getSeq() < 0 || delta.getAttempt() < 0) {
            throw new IllegalArgumentException("turnId " + delta.getTurnId() + ", attempt " + delta.getAttempt()
                    + " and seq " + delta.getSeq() + " must not be negative");
        }
        Long started = delta.getTimings() == null ? null : delta.getTimings().getInferenceStartUs();
        SpeculationGate.Verdict verdict = speculation.intercept(callId, delta.getTurnId(), Topics.RESPONSE_TEXT.name(),
                currentValue(), timestamp, started == null ? 0 : started);
        if (verdict == SpeculationGate.Verdict.DROPPED && delta.getLast()) {
            // the worker's last word on a cancelled speculative turn: what it cost
            TurnMetrics m = speculation.cancelledMetrics(callId, delta.getTurnId(), delta.getAttempt(), delta.getTimings(),
                    timestamp * 1000);
            metrics.increment(TopologyMetrics.TURN_METRICS);
            context.forward(new Record<>(callId, m, timestamp), ConversationTopology.TURN_METRICS_SINK);
        }
        if (verdict == SpeculationGate.Verdict.PROCESS) {
            apply(conversation, transcripts, callId, delta, t -> context.forward(new Record<>(callId, t, timestamp),
                    ConversationTopology.TRANSCRIPT_SINK));
        }
    }

    /** Adds the delta to its turn's reply; a completed turn's transcript goes to {@code transcript}. */
    static void apply(ConversationContext conversation, TranscriptBook transcripts, String callId, TextDelta delta,
                      java.util.function.Consumer<Transcript> transcript) {
        conversation.apply(callId, delta).ifPresent(done -> transcript.accept(transcripts.turnCompleted(callId, done)));
    }
}
