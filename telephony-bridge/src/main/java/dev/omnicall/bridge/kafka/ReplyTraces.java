package dev.omnicall.bridge.kafka;

import dev.omnicall.events.AudioChunk;
import dev.omnicall.events.AudioSegment;
import dev.omnicall.events.CallEvent;
import dev.omnicall.events.PlaybackStarted;
import dev.omnicall.events.TurnTimings;
import dev.omnicall.kafka.TurnTrace;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The bridge's side of a turn's trace ({@link TurnTrace}): the end-of-utterance segment starts it, and the reply's
 * first RTP packet ends it. Between the two, the trace header and stamps of each attempt's first AudioChunk wait here,
 * from {@link ResponseAudioConsumer} until {@link KafkaCallEventSink} publishes the attempt's PlaybackStarted: the
 * context still comes only from the chunk's record. At most {@link #MAX_PENDING} attempts wait (a reply barged into
 * before it played never starts); the oldest go first, and a call's go at its CallEnded.
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

    private record FirstChunk(byte[] traceparent, TurnTimings timings) {
    }

    public ReplyTraces(TurnTrace trace) {
        this.trace = trace;
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
                    new FirstChunk(traceparent, chunk.getTimings()));
        }
    }

    /** Headers for a CallEvent: PlaybackStarted ends its attempt's trace; CallEnded forgets what its call left. */
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
        if (event.getPayload() instanceof dev.omnicall.events.CallEnded) {
            String prefix = callId + '\0';
            synchronized (pending) {
                pending.keySet().removeIf(k -> k.startsWith(prefix));
            }
        }
        return new RecordHeaders();
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
