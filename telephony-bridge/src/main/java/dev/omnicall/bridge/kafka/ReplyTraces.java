package dev.omnicall.bridge.kafka;

import dev.omnicall.events.AudioChunk;
import dev.omnicall.events.AudioSegment;
import dev.omnicall.events.BargeIn;
import dev.omnicall.events.CallEnded;
import dev.omnicall.events.CallEvent;
import dev.omnicall.events.PlaybackStarted;
import dev.omnicall.events.TurnTimings;
import dev.omnicall.kafka.Clock;
import dev.omnicall.kafka.TurnTrace;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongSupplier;
import java.util.function.Predicate;

/**
 * The bridge's side of a turn's trace ({@link TurnTrace}): the end-of-utterance segment starts it, and the reply's
 * first RTP packet ends it. Between the two, the trace header and stamps of each attempt's first AudioChunk wait here,
 * from {@link ResponseAudioConsumer} until {@link KafkaCallEventSink} publishes the attempt's PlaybackStarted: the
 * context still comes only from the chunk's record. A reply that never plays ends its trace at the call event that
 * dropped it ({@link TurnTrace#playbackCancelled}): a BargeIn of its turn (also a speculative turn not confirmed) or
 * the call's CallEnded. At most {@link #MAX_PENDING} attempts wait; beyond that the oldest are forgotten untraced.
 */
public final class ReplyTraces {

    static final int MAX_PENDING = 4096;

    private final TurnTrace trace;
    private final Map<String, FirstChunk> pending = new LinkedHashMap<>() {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, FirstChunk> eldest) {
            return size() > MAX_PENDING;
        }
    };

    private final LongSupplier clockUs;

    /** {@code receivedUs}: when the bridge consumed it (the stage chunk-to-bridge ends there if it never plays). */
    private record FirstChunk(byte[] traceparent, TurnTimings timings, long receivedUs) {
    }

    public ReplyTraces(TurnTrace trace) {
        this(trace, Clock::nowMicros);
    }

    ReplyTraces(TurnTrace trace, LongSupplier clockUs) {
        this.trace = trace;
        this.clockUs = clockUs;
    }

    /** Headers for an AudioSegment: the trace context on an end-of-utterance segment, none on the others. */
    Headers segment(AudioSegment segment) {
        return segment.getEndOfUtterance() ? trace.utteranceEnded(segment) : new RecordHeaders();
    }

    /** An AudioChunk was consumed: the first of its attempt (seq 0) leaves its trace header and stamps here. */
    void chunk(Headers headers, AudioChunk chunk) {
        if (chunk.getSeq() != 0) {
            return;
        }
        byte[] traceparent = TurnTrace.traceparent(headers);
        synchronized (pending) {
            pending.putIfAbsent(key(chunk.getCallId(), chunk.getTurnId(), chunk.getAttempt()),
                    new FirstChunk(traceparent, chunk.getTimings(), clockUs.getAsLong()));
        }
    }

    /**
     * Headers for a CallEvent: PlaybackStarted ends its attempt's trace; a BargeIn ends those of its turn's replies
     * that never played, CallEnded those of its call's, as cancelled.
     */
    Headers callEvent(CallEvent event) {
        String callId = event.getCallId();
        if (event.getPayload() instanceof PlaybackStarted p) {
            FirstChunk first;
            synchronized (pending) {
                first = pending.remove(key(callId, p.getTurnId(), p.getAttempt()));
            }
            TurnTimings t = first == null || first.timings() == null ? new TurnTimings()
                    : TurnTimings.newBuilder(first.timings()).build();
            t.setChunkReceivedUs(p.getChunkReceivedUs());
            t.setFirstRtpUs(p.getFirstRtpUs());
            RecordHeaders in = new RecordHeaders();
            if (first != null && first.traceparent() != null) {
                in.add(TurnTrace.TRACEPARENT, first.traceparent());
            }
            return trace.playbackStarted(in, callId, p.getTurnId(), p.getAttempt(), t);
        }
        if (event.getPayload() instanceof BargeIn b) {
            String prefix = callId + '\0' + b.getTurnId() + '\0';
            cancel(k -> k.startsWith(prefix), event.getOccurredUs(), b.getSpeculative() ? "speculation-cancelled" : "barge-in");
        } else if (event.getPayload() instanceof CallEnded) {
            String prefix = callId + '\0';
            cancel(k -> k.startsWith(prefix), event.getOccurredUs(), "call-ended");
        }
        return new RecordHeaders();
    }

    /** Ends the traces of the waiting first chunks whose key matches: their replies will not play. */
    private void cancel(Predicate<String> match, long cancelledUs, String reason) {
        List<Map.Entry<String, FirstChunk>> dropped = new ArrayList<>();
        synchronized (pending) {
            for (Iterator<Map.Entry<String, FirstChunk>> it = pending.entrySet().iterator(); it.hasNext(); ) {
                Map.Entry<String, FirstChunk> e = it.next();
                if (match.test(e.getKey())) {
                    dropped.add(e);
                    it.remove();
                }
            }
        }
        for (Map.Entry<String, FirstChunk> e : dropped) {
            String[] key = e.getKey().split("\0", -1);
            FirstChunk first = e.getValue();
            TurnTimings t = first.timings() == null ? new TurnTimings() : TurnTimings.newBuilder(first.timings()).build();
            t.setChunkReceivedUs(first.receivedUs());
            RecordHeaders in = new RecordHeaders();
            if (first.traceparent() != null) {
                in.add(TurnTrace.TRACEPARENT, first.traceparent());
            }
            trace.playbackCancelled(in, key[0], Integer.parseInt(key[1]), Integer.parseInt(key[2]), t, cancelledUs,
                    reason);
        }
    }

    int pending() {
        synchronized (pending) {
            return pending.size();
        }
    }

    private static String key(String callId, int turnId, int attempt) {
        return callId + '\0' + turnId + '\0' + attempt;
    }
}
