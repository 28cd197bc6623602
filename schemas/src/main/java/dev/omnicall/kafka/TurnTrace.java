package dev.omnicall.kafka;

import dev.omnicall.events.AudioChunk;
import dev.omnicall.events.AudioSegment;
import dev.omnicall.events.TurnRequest;
import dev.omnicall.events.TurnTimings;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;

/**
 * Where one turn's trace context crosses Kafka: the W3C {@value #TRACEPARENT} record header. At the end of each of
 * its stages a role hands this hook the headers of the record that began the stage (with the stamps it has) and puts
 * the headers it gets back on the record it writes, so the context travels with the records and nowhere else: the
 * roles may run in different processes. The libraries only carry these header bytes; the app implements the hook
 * with OpenTelemetry (quarkus-app, {@code dev.omnicall.app.trace}) and makes the spans of the turn-metrics split from
 * the stamps.
 *
 * <pre>
 *   bridge   end-of-utterance AudioSegment   {@link #utteranceEnded}     caller-audio
 *   streams  TurnRequest                     {@link #turnRequested}      turn-requests
 *   worker   first AudioChunk of an attempt  {@link #firstChunk}         response-audio
 *   bridge   PlaybackStarted (first RTP)     {@link #playbackStarted}    call-events
 * </pre>
 *
 * An attempt stopped before its first RTP packet (barge-in, hang-up, a speculative turn not confirmed) still ends the
 * stages it began: {@link #turnCancelled} where the worker writes the attempt's cancelled TextDelta before any chunk,
 * {@link #playbackCancelled} where the bridge drops a first chunk it never played.
 *
 * {@link #RELAY} (every default) makes no spans and passes the header on unchanged, so a role without tracing keeps
 * the chain of the others whole. An implementation must not throw: a hook's trouble never costs a record.
 */
public interface TurnTrace {

    /** W3C Trace Context: {@code 00-<32 hex trace id>-<16 hex parent span id>-<2 hex flags>}. */
    String TRACEPARENT = "traceparent";

    /** No spans; the traceparent header goes on as it came. */
    TurnTrace RELAY = new TurnTrace() {
    };

    /** bridge: the VAD ended an utterance; headers for its end-of-utterance segment (the turn's trace starts here). */
    default Headers utteranceEnded(AudioSegment endOfUtterance) {
        return new RecordHeaders();
    }

    /**
     * streams: the utterance goes out as a TurnRequest; {@code in} holds the end-of-utterance segment's traceparent
     * (kept in the assembler's state, so also when a later segment completed the utterance or the gap timeout sent
     * it), or nothing when that segment had none.
     */
    default Headers turnRequested(Headers in, TurnRequest request) {
        return relay(in);
    }

    /** worker: an attempt's first AudioChunk goes out; {@code in} are the headers of the TurnRequest it answers. */
    default Headers firstChunk(Headers in, AudioChunk first) {
        return relay(in);
    }

    /**
     * bridge: the first RTP packet of an attempt's reply went out; {@code in} are the headers of the attempt's first
     * AudioChunk, {@code timings} its stamps with the bridge's chunkReceivedUs and firstRtpUs filled in. The result
     * goes on the PlaybackStarted event.
     */
    default Headers playbackStarted(Headers in, String callId, int turnId, int attempt, TurnTimings timings) {
        return relay(in);
    }

    /**
     * worker: an attempt is cancelled ({@code reason}: barge-in, call-ended, already-cancelled) before its first
     * AudioChunk went out; {@code in} are the headers of its TurnRequest, {@code timings} the stamps it reached,
     * {@code cancelledUs} when it stopped. The result goes on the attempt's cancelled last TextDelta (response-text).
     */
    default Headers turnCancelled(Headers in, String callId, int turnId, int attempt, TurnTimings timings,
                                  long cancelledUs, String reason) {
        return relay(in);
    }

    /**
     * bridge: an attempt's first AudioChunk arrived but its reply never played ({@code reason}: barge-in,
     * speculation-cancelled, call-ended); {@code in} are that chunk's headers, {@code timings} its stamps with the
     * bridge's chunkReceivedUs, {@code cancelledUs} the time of the call event that dropped it.
     */
    default void playbackCancelled(Headers in, String callId, int turnId, int attempt, TurnTimings timings,
                                   long cancelledUs, String reason) {
    }

    /** The last {@value #TRACEPARENT} header of {@code in} (none when it has none), in fresh headers. */
    static Headers relay(Headers in) {
        RecordHeaders out = new RecordHeaders();
        byte[] value = traceparent(in);
        if (value != null) {
            out.add(TRACEPARENT, value);
        }
        return out;
    }

    /** The value of the last {@value #TRACEPARENT} header, or null. */
    static byte[] traceparent(Headers headers) {
        if (headers == null) {
            return null;
        }
        Header h = headers.lastHeader(TRACEPARENT);
        return h == null ? null : h.value();
    }
}
