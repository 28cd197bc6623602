package dev.omnicall.app.trace;

import dev.omnicall.events.AudioChunk;
import dev.omnicall.events.AudioSegment;
import dev.omnicall.events.TurnRequest;
import dev.omnicall.events.TurnTimings;
import dev.omnicall.kafka.TurnTrace;
import io.micrometer.core.instrument.MeterRegistry;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.common.AttributesBuilder;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.api.trace.propagation.W3CTraceContextPropagator;
import io.opentelemetry.context.Context;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.jboss.logging.Logger;

import java.util.concurrent.TimeUnit;

/**
 * One OpenTelemetry trace per turn, carried from role to role in the W3C {@code traceparent} record header
 * ({@link TurnTrace}). Each role makes the spans of the stages it has just seen the end of, from the turn's stamps
 * (epoch µs), so a span starts and ends exactly at the stamps TurnMetrics subtracts:
 *
 * <pre>
 *   bridge   vad-wait                                     (the trace's root)
 *   streams    bridge-to-request
 *   worker       request-to-inference ─┬─ request-to-worker
 *                                      └─ worker-queue
 *                  encoder-prefill
 *                    first-units
 *                      vocoder
 *   bridge               chunk-to-bridge
 *                          bridge-to-rtp
 * </pre>
 *
 * Each stage's span is the child of the one before it (request-to-inference's two parts are its children). A stage
 * with a stamp missing has no span; the next one hangs under the last that exists. Every span carries the call id,
 * turn id and role, those of an attempt (from request-to-inference on) the attempt, and all the stage's exact
 * length in µs ({@value #STAGE_US_KEY}: a stage across two hosts' clocks can come out negative, where the span is
 * cut to zero length). A record without a readable traceparent starts a new root trace for the rest of the turn and
 * is counted ({@value #LOST_CONTEXT}); nothing here throws.
 *
 * <p>An attempt cancelled before its first RTP packet (barge-in, hang-up, a speculative turn not confirmed) ends its
 * role's stages at the cancellation ({@link #turnCancelled}, {@link #playbackCancelled}): each stage it began has a
 * span, the one it was in lasts until the cancellation, and all of them carry {@code omnicall.turn.cancelled=true}
 * and {@code omnicall.turn.cancel.reason}. The status stays unset: a caller speaking over a reply is not an error.
 */
public final class TurnSpans implements TurnTrace {

    private static final Logger LOG = Logger.getLogger(TurnSpans.class);

    /** Counter: records that came without a usable trace context; tags role and reason (missing, invalid, error). */
    public static final String LOST_CONTEXT = "omnicall.trace.context.lost";
    static final String STAGE_US_KEY = "omnicall.stage.us";

    public static final AttributeKey<String> CALL_ID = AttributeKey.stringKey("omnicall.call.id");
    public static final AttributeKey<Long> TURN_ID = AttributeKey.longKey("omnicall.turn.id");
    public static final AttributeKey<Long> ATTEMPT = AttributeKey.longKey("omnicall.turn.attempt");
    public static final AttributeKey<String> ROLE = AttributeKey.stringKey("omnicall.role");
    public static final AttributeKey<Long> STAGE_US = AttributeKey.longKey(STAGE_US_KEY);
    public static final AttributeKey<Boolean> CANCELLED = AttributeKey.booleanKey("omnicall.turn.cancelled");
    public static final AttributeKey<String> CANCEL_REASON = AttributeKey.stringKey("omnicall.turn.cancel.reason");

    private static final W3CTraceContextPropagator W3C = W3CTraceContextPropagator.getInstance();

    private final Tracer tracer;
    private final MeterRegistry registry;

    public TurnSpans(Tracer tracer, MeterRegistry registry) {
        this.tracer = tracer;
        this.registry = registry;
    }

    @Override
    public Headers utteranceEnded(AudioSegment segment) {
        try {
            Attributes turn = turn(segment.getCallId(), segment.getUtteranceId(), null, "bridge");
            return inject(stage(Context.root(), TurnStage.VAD_WAIT, segment.getTimings(), turn));
        } catch (RuntimeException e) {
            return failed("bridge", null, e);
        }
    }

    @Override
    public Headers turnRequested(Headers in, TurnRequest request) {
        try {
            Context parent = extract(in, "streams");
            Attributes turn = turn(request.getCallId(), request.getTurnId(), null, "streams");
            return inject(stage(parent, TurnStage.BRIDGE_TO_REQUEST, request.getTimings(), turn));
        } catch (RuntimeException e) {
            return failed("streams", in, e);
        }
    }

    @Override
    public Headers firstChunk(Headers in, AudioChunk first) {
        try {
            Context parent = extract(in, "worker");
            TurnTimings t = first.getTimings();
            Attributes turn = turn(first.getCallId(), first.getTurnId(), first.getAttempt(), "worker");
            Context inference = stage(parent, TurnStage.REQUEST_TO_INFERENCE, t, turn);
            stage(inference, TurnStage.REQUEST_TO_WORKER, t, turn);
            stage(inference, TurnStage.WORKER_QUEUE, t, turn);
            Context c = stage(inference, TurnStage.ENCODER_PREFILL, t, turn);
            c = stage(c, TurnStage.FIRST_UNITS, t, turn);
            return inject(stage(c, TurnStage.VOCODER, t, turn));
        } catch (RuntimeException e) {
            return failed("worker", in, e);
        }
    }

    @Override
    public Headers playbackStarted(Headers in, String callId, int turnId, int attempt, TurnTimings timings) {
        try {
            Context parent = extract(in, "bridge");
            Attributes turn = turn(callId, turnId, attempt, "bridge");
            Context c = stage(parent, TurnStage.CHUNK_TO_BRIDGE, timings, turn);
            return inject(stage(c, TurnStage.BRIDGE_TO_RTP, timings, turn));
        } catch (RuntimeException e) {
            return failed("bridge", in, e);
        }
    }

    @Override
    public Headers turnCancelled(Headers in, String callId, int turnId, int attempt, TurnTimings t, long cancelledUs,
                                 String reason) {
        try {
            Context parent = extract(in, "worker");
            Attributes turn = cancelled(turn(callId, turnId, attempt, "worker"), reason);
            Context inference = stage(parent, TurnStage.REQUEST_TO_INFERENCE, t, turn, cancelledUs);
            stage(inference, TurnStage.REQUEST_TO_WORKER, t, turn, cancelledUs);
            stage(inference, TurnStage.WORKER_QUEUE, t, turn, cancelledUs);
            Context c = stage(inference, TurnStage.ENCODER_PREFILL, t, turn, cancelledUs);
            c = stage(c, TurnStage.FIRST_UNITS, t, turn, cancelledUs);
            return inject(stage(c, TurnStage.VOCODER, t, turn, cancelledUs));
        } catch (RuntimeException e) {
            return failed("worker", in, e);
        }
    }

    @Override
    public void playbackCancelled(Headers in, String callId, int turnId, int attempt, TurnTimings t, long cancelledUs,
                                  String reason) {
        try {
            Context parent = extract(in, "bridge");
            Attributes turn = cancelled(turn(callId, turnId, attempt, "bridge"), reason);
            Context c = stage(parent, TurnStage.CHUNK_TO_BRIDGE, t, turn, cancelledUs);
            stage(c, TurnStage.BRIDGE_TO_RTP, t, turn, cancelledUs);
        } catch (RuntimeException e) {
            failed("bridge", in, e);
        }
    }

    /** The span of one stage, from its first stamp to its second; {@code parent} alone when a stamp is missing. */
    private Context stage(Context parent, TurnStage stage, TurnTimings t, Attributes turn) {
        return stage(parent, stage, t, turn, null);
    }

    /**
     * As above; with {@code cancelledUs} set (the attempt was cancelled), a stage that began but has no second stamp
     * was cut short there: its span ends at the cancellation. A stage that never began has no span.
     */
    private Context stage(Context parent, TurnStage stage, TurnTimings t, Attributes turn, Long cancelledUs) {
        Long from = stage.fromUs(t);
        Long to = stage.toUs(t);
        if (to == null && from != null && cancelledUs != null) {
            to = cancelledUs;
        }
        if (from == null || to == null) {
            return parent;
        }
        Span span = tracer.spanBuilder(stage.spanName())
                .setParent(parent)
                .setSpanKind(SpanKind.INTERNAL)
                .setStartTimestamp(from, TimeUnit.MICROSECONDS)
                .setAllAttributes(turn)
                .setAttribute(STAGE_US, to - from)
                .startSpan();
        span.end(Math.max(from, to), TimeUnit.MICROSECONDS);
        return parent.with(span);
    }

    /** The context in {@code in}'s traceparent; the root (a new trace) when there is none or it cannot be read. */
    private Context extract(Headers in, String role) {
        if (TurnTrace.traceparent(in) == null) {
            lost(role, "missing");
            return Context.root();
        }
        Context c = W3C.extract(Context.root(), in, KafkaHeaders.GETTER);
        if (!Span.fromContext(c).getSpanContext().isValid()) {
            lost(role, "invalid");
            return Context.root();
        }
        return c;
    }

    private static Headers inject(Context c) {
        Headers out = new RecordHeaders();
        W3C.inject(c, out, KafkaHeaders.SETTER);
        return out;
    }

    private static Attributes turn(String callId, int turnId, Integer attempt, String role) {
        AttributesBuilder b = Attributes.builder().put(CALL_ID, callId).put(TURN_ID, (long) turnId).put(ROLE, role);
        if (attempt != null) {
            b.put(ATTEMPT, attempt.longValue());
        }
        return b.build();
    }

    private static Attributes cancelled(Attributes turn, String reason) {
        return turn.toBuilder().put(CANCELLED, true).put(CANCEL_REASON, reason == null ? "unknown" : reason).build();
    }

    private void lost(String role, String reason) {
        registry.counter(LOST_CONTEXT, "role", role, "reason", reason).increment();
    }

    /** A hook failed: the record goes on with what came in (the chain of the other roles stays whole). */
    private Headers failed(String role, Headers in, RuntimeException e) {
        lost(role, "error");
        LOG.warnf("trace context of a turn not handled (%s): %s", role, e.toString());
        return TurnTrace.relay(in);
    }
}
