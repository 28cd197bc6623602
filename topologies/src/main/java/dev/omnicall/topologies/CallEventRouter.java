package dev.omnicall.topologies;

import dev.omnicall.events.AudioSegment;
import dev.omnicall.events.BargeIn;
import dev.omnicall.events.CallEnded;
import dev.omnicall.events.CallEvent;
import dev.omnicall.events.CallStarted;
import dev.omnicall.events.Dtmf;
import dev.omnicall.events.PlaybackStarted;
import dev.omnicall.events.TextDelta;
import dev.omnicall.events.CallerText;
import dev.omnicall.events.TurnConfirmed;
import dev.omnicall.state.HeldRecord;
import dev.omnicall.events.TurnMetrics;
import dev.omnicall.kafka.Topics;
import dev.omnicall.state.ConversationState;
import dev.omnicall.state.UtteranceProgress;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;

import java.util.List;

/**
 * Call lifecycle for every piece of state: CallStarted opens the transcript, Dtmf annotates it, BargeIn
 * marks its turn interrupted and cuts the reply to what the caller heard (in the context and the transcript),
 * PlaybackStarted dates the reply and completes the bridge half of the turn metrics, and CallEnded clears the call's buffers,
 * closes its transcript, flushes its unfinished metrics and marks it ended in {@link CallActivity}, so its late
 * records are refused; the transcript and the text of the context stay for {@code endedGrace}, for a CallerText
 * still on its way (the sweep releases them). A wall-clock punctuator runs the {@link StateSweeper} for calls whose
 * CallEnded never comes.
 */
final class CallEventRouter extends DecodingProcessor<CallEvent> {

    private KeyValueStore<String, AudioSegment> segments;
    private KeyValueStore<String, UtteranceProgress> progress;
    private ConversationContext conversation;
    private TranscriptBook transcripts;
    private TurnMetricsBook turnMetrics;
    private SpeculationGate speculation;
    private final Deserializer<TextDelta> deltas;
    private final Deserializer<CallerText> callerTexts;

    CallEventRouter(Deserializer<CallEvent> deserializer, Deserializer<TextDelta> deltas,
                    Deserializer<CallerText> callerTexts, ConversationConfig config, TopologyMetrics metrics) {
        super(Topics.CALL_EVENTS, deserializer, config, metrics);
        this.deltas = deltas;
        this.callerTexts = callerTexts;
    }

    @Override
    protected void open() {
        segments = context.getStateStore(ConversationTopology.SEGMENT_STORE);
        progress = context.getStateStore(ConversationTopology.PROGRESS_STORE);
        KeyValueStore<String, ConversationState> ctx = context.getStateStore(ConversationTopology.CONTEXT_STORE);
        conversation = new ConversationContext(ctx, config, metrics);
        transcripts = new TranscriptBook(context.getStateStore(ConversationTopology.TRANSCRIPT_STORE),
                config.redactTranscripts());
        turnMetrics = new TurnMetricsBook(context.getStateStore(ConversationTopology.METRICS_STORE));
        speculation = new SpeculationGate(context.getStateStore(ConversationTopology.SPECULATION_STORE), metrics);
        StateSweeper sweeper = new StateSweeper(context.getStateStore(ConversationTopology.ACTIVITY_STORE),
                List.of(ctx, context.getStateStore(ConversationTopology.TRANSCRIPT_STORE)),
                List.of(segments, progress, context.getStateStore(ConversationTopology.METRICS_STORE),
                        context.getStateStore(ConversationTopology.SPECULATION_STORE)), config, metrics);
        context.schedule(CallActivity.touchEvery(config), PunctuationType.WALL_CLOCK_TIME, sweeper::sweep);
    }

    @Override
    protected boolean startsCall(CallEvent value) {
        return value.getPayload() instanceof CallStarted;
    }

    @Override
    protected String callIdOf(CallEvent value) {
        return value.getCallId();
    }

    @Override
    protected void handle(String callId, CallEvent event, long timestamp) {
        Object payload = event.getPayload();
        if (payload instanceof CallStarted) {
            if (admission == CallActivity.Admission.RESTARTED) {
                // a reused call ID: what its previous call left for the grace period belongs to that call
                conversation.clear(callId);
                transcripts.forget(callId);
            }
            forwardTranscript(callId, transcripts.started(callId), timestamp);
        } else if (payload instanceof Dtmf dtmf) {
            forwardTranscript(callId, transcripts.dtmf(callId, dtmf.getDigit()), timestamp);
        } else if (payload instanceof TurnConfirmed confirmed) {
            confirm(callId, confirmed.getTurnId(), confirmed.getConfirmedUs(), timestamp);
        } else if (payload instanceof BargeIn bargeIn && bargeIn.getSpeculative()) {
            // the caller went on before the end was confirmed: the turn never happened
            speculation.cancel(callId, bargeIn.getTurnId(), event.getOccurredUs())
                    .ifPresent(c -> conversation.forget(callId, c.turnId()));
            turnMetrics.forget(callId, bargeIn.getTurnId());
        } else if (payload instanceof BargeIn bargeIn) {
            // a barge-in into the reply of a speculative turn means it was confirmed (it played)
            confirmIfOpen(callId, bargeIn.getTurnId(), event.getOccurredUs(), timestamp);
            conversation.bargeIn(callId, bargeIn.getTurnId(), bargeIn.getAttempt(), bargeIn.getPlayedTextChars())
                    .flatMap(late -> transcripts.interruptedAfterCompletion(callId, late))
                    .ifPresent(t -> forwardTranscript(callId, t, timestamp));
        } else if (payload instanceof PlaybackStarted ps) {
            confirmIfOpen(callId, ps.getTurnId(), ps.getConfirmedUs() > 0 ? ps.getConfirmedUs() : ps.getFirstRtpUs(),
                    timestamp);
            if (conversation.replyStarted(callId, ps.getTurnId(), ps.getFirstRtpUs())) {
                transcripts.replyStarted(callId, ps.getTurnId(), ps.getFirstRtpUs())
                        .ifPresent(t -> forwardTranscript(callId, t, timestamp));
            }
            turnMetrics.playbackStarted(callId, ps.getTurnId(), ps.getAttempt(), ps.getChunkReceivedUs(), ps.getFirstRtpUs())
                    .ifPresent(m -> forwardMetrics(callId, m, timestamp));
        } else if (payload instanceof CallEnded) {
            UtteranceAssembler.clear(callId, segments, progress);
            boolean grace = !config.endedGrace().isZero();
            conversation.ended(callId, grace);
            for (TurnMetrics m : turnMetrics.flush(callId)) {
                forwardMetrics(callId, m, timestamp);
            }
            forwardTranscript(callId, transcripts.ended(callId, grace), timestamp);
            speculation.clear(callId);
            calls.ended(callId, context.currentSystemTimeMs());
            metrics.increment(TopologyMetrics.CALLS_CLEARED);
        } else {
            throw new IllegalArgumentException("unknown call event payload " + (payload == null ? "null" : payload.getClass().getSimpleName()));
        }
    }

    private void confirmIfOpen(String callId, int turnId, long confirmedUs, long timestamp) {
        if (speculation.kind(callId, turnId) == SpeculationGate.Kind.OPEN) {
            confirm(callId, turnId, confirmedUs, timestamp);
        }
    }

    /** The speculative turn is confirmed: what was held of it is processed now, in the order it came. */
    private void confirm(String callId, int turnId, long confirmedUs, long timestamp) {
        for (HeldRecord held : speculation.confirm(callId, turnId, confirmedUs)) {
            byte[] bytes = new byte[held.getValue().remaining()];
            held.getValue().duplicate().get(bytes);
            java.util.function.Consumer<dev.omnicall.events.Transcript> out = t -> forwardTranscript(callId, t, timestamp);
            if (held.getTopic().equals(Topics.RESPONSE_TEXT.name())) {
                ReplyCollector.apply(conversation, transcripts, callId, deltas.deserialize(held.getTopic(), bytes), out);
            } else if (held.getTopic().equals(Topics.CALLER_TEXT.name())) {
                CallerTextCollector.apply(conversation, transcripts, callId, callerTexts.deserialize(held.getTopic(), bytes),
                        out);
            } else {
                throw new IllegalStateException("a held record of " + held.getTopic() + " cannot be replayed");
            }
        }
    }

    private void forwardTranscript(String callId, dev.omnicall.events.Transcript t, long timestamp) {
        context.forward(new Record<>(callId, t, timestamp), ConversationTopology.TRANSCRIPT_SINK);
    }

    private void forwardMetrics(String callId, TurnMetrics m, long timestamp) {
        speculation.account(m);
        metrics.increment(TopologyMetrics.TURN_METRICS);
        context.forward(new Record<>(callId, m, timestamp), ConversationTopology.TURN_METRICS_SINK);
    }
}
