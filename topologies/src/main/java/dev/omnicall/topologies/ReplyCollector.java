package dev.omnicall.topologies;

import dev.omnicall.events.TextDelta;
import dev.omnicall.events.Transcript;
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

    ReplyCollector(Deserializer<TextDelta> deserializer, ConversationConfig config, TopologyMetrics metrics) {
        super(Topics.RESPONSE_TEXT, deserializer, config, metrics);
    }

    @Override
    protected void open() {
        KeyValueStore<String, ConversationState> ctx = context.getStateStore(ConversationTopology.CONTEXT_STORE);
        conversation = new ConversationContext(ctx, config, metrics);
        transcripts = new TranscriptBook(context.getStateStore(ConversationTopology.TRANSCRIPT_STORE),
                config.redactTranscripts());
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
        conversation.apply(callId, delta).ifPresent(done -> {
            Transcript t = transcripts.turnCompleted(callId, done);
            context.forward(new Record<>(callId, t, timestamp), ConversationTopology.TRANSCRIPT_SINK);
        });
    }
}
