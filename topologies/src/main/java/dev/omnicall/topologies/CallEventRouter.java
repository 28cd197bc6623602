package dev.omnicall.topologies;

import dev.omnicall.events.AudioSegment;
import dev.omnicall.events.BargeIn;
import dev.omnicall.events.CallEnded;
import dev.omnicall.events.CallEvent;
import dev.omnicall.events.CallStarted;
import dev.omnicall.events.Dtmf;
import dev.omnicall.events.PlaybackStarted;
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

    CallEventRouter(Deserializer<CallEvent> deserializer, ConversationConfig config, TopologyMetrics metrics) {
        super(Topics.CALL_EVENTS, deserializer, config, metrics);
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
        StateSweeper sweeper = new StateSweeper(context.getStateStore(ConversationTopology.ACTIVITY_STORE),
                List.of(ctx, context.getStateStore(ConversationTopology.TRANSCRIPT_STORE)),
                List.of(segments, progress, context.getStateStore(ConversationTopology.METRICS_STORE)), config, metrics);
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
        } else if (payload instanceof BargeIn bargeIn) {
            conversation.bargeIn(callId, bargeIn.getTurnId(), bargeIn.getAttempt(), bargeIn.getPlayedTextChars())
                    .flatMap(late -> transcripts.interruptedAfterCompletion(callId, late))
                    .ifPresent(t -> forwardTranscript(callId, t, timestamp));
        } else if (payload instanceof PlaybackStarted ps) {
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
            calls.ended(callId, context.currentSystemTimeMs());
            metrics.increment(TopologyMetrics.CALLS_CLEARED);
        } else {
            throw new IllegalArgumentException("unknown call event payload " + (payload == null ? "null" : payload.getClass().getSimpleName()));
        }
    }

    private void forwardTranscript(String callId, dev.omnicall.events.Transcript t, long timestamp) {
        context.forward(new Record<>(callId, t, timestamp), ConversationTopology.TRANSCRIPT_SINK);
    }

    private void forwardMetrics(String callId, TurnMetrics m, long timestamp) {
        metrics.increment(TopologyMetrics.TURN_METRICS);
        context.forward(new Record<>(callId, m, timestamp), ConversationTopology.TURN_METRICS_SINK);
    }
}
