package dev.omnicall.topologies;

import dev.omnicall.events.CallerText;
import dev.omnicall.kafka.Topics;
import dev.omnicall.state.ConversationState;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * Conversation context, caller side: what the caller said in a turn (the worker's Whisper decoder, one
 * CallerText per turn attempt) becomes that turn's {@code userText} in the context, so the next TurnRequest's
 * history carries the caller's words, and in the transcript, which is republished. It may come before or after
 * the reply's last TextDelta, after a barge-in, and within {@code endedGrace} after the call's CallEnded (the
 * transcript is then republished ended); see {@link ConversationContext#callerText} for what is ignored (and
 * counted).
 */
final class CallerTextCollector extends DecodingProcessor<CallerText> {

    private ConversationContext conversation;
    private TranscriptBook transcripts;
    private SpeculationGate speculation;

    CallerTextCollector(Deserializer<CallerText> deserializer, ConversationConfig config, TopologyMetrics metrics) {
        super(Topics.CALLER_TEXT, deserializer, config, metrics);
    }

    @Override
    protected void open() {
        KeyValueStore<String, ConversationState> ctx = context.getStateStore(ConversationTopology.CONTEXT_STORE);
        conversation = new ConversationContext(ctx, config, metrics);
        transcripts = new TranscriptBook(context.getStateStore(ConversationTopology.TRANSCRIPT_STORE),
                config.redactTranscripts());
        speculation = new SpeculationGate(context.getStateStore(ConversationTopology.SPECULATION_STORE), metrics);
    }

    /** The worker transcribes a turn cut by the hang-up after its reply stopped: its text trails the CallEnded. */
    @Override
    protected boolean completesTranscript(CallerText value) {
        return true;
    }

    @Override
    protected String callIdOf(CallerText value) {
        return value.getCallId();
    }

    @Override
    protected void handle(String callId, CallerText text, long timestamp) {
        if (text.getTurnId() < 0 || text.getAttempt() < 0) {
            throw new IllegalArgumentException("turnId " + text.getTurnId() + " and attempt " + text.getAttempt()
                    + " must not be negative");
        }
        if (speculation.intercept(callId, text.getTurnId(), Topics.CALLER_TEXT.name(), currentValue(), timestamp, 0)
                == SpeculationGate.Verdict.PROCESS) {
            apply(conversation, transcripts, callId, text, t -> context.forward(new Record<>(callId, t, timestamp),
                    ConversationTopology.TRANSCRIPT_SINK));
        }
    }

    /** Takes the caller's text into the context; the transcript, when it changed, goes to {@code transcript}. */
    static void apply(ConversationContext conversation, TranscriptBook transcripts, String callId, CallerText text,
                      java.util.function.Consumer<dev.omnicall.events.Transcript> transcript) {
        long userEndedUs = UtteranceAssembler.userEndedUs(text.getTimings());
        conversation.callerText(callId, text.getTurnId(), text.getAttempt(), text.getText(), userEndedUs)
                .ifPresent(side -> transcript.accept(transcripts.callerSaid(callId, text.getTurnId(), side)));
    }
}
