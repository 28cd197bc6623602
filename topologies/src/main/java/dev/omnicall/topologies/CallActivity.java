package dev.omnicall.topologies;

import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.state.KeyValueStore;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;

/**
 * The call-activity store, keyed by call ID: when a record of the call was last seen (the processor's wall
 * clock, to within {@link #touchEvery}) and, once its CallEnded was processed, when it ended.
 *
 * <p>Every record passes {@link #admit} before it may touch any other store. A record of an ended call is
 * refused: the worker's in-flight and redo replies, the first chunk of a reply still in prefill when the
 * caller hung up, caller audio that lost the race across partitions, a second CallEnded. Nothing clears a
 * call twice, so whatever they stored would stay for ever. The one exception is CallStarted, which never
 * trails its own CallEnded (one producer, one partition): after an end it means the call ID was reused, and
 * the call starts afresh.
 *
 * <p>A record that may still complete the call's transcript (a CallerText: the worker finishes the transcription
 * of a turn cut by the hang-up or a barge-in after the reply stopped, so it routinely trails the CallEnded) is
 * admitted for {@code endedGrace} after the end; the transcript and the text of the context are kept that long
 * ({@link StateSweeper} releases them), and nothing else of the call is.
 *
 * <p>The end of a call is remembered for {@link #ENDED_MEMORY}; late records trail a hang-up by seconds
 * (a worker's redo by its session timeout). Live calls not seen for {@code stateTtl} are cleared by
 * {@link StateSweeper}. State stores hold Avro single-object encoding; this one's schema lives here because
 * nothing outside the streams role reads it.
 */
final class CallActivity {

    /** How long a call's end is remembered, so that its late records are refused. */
    static final Duration ENDED_MEMORY = Duration.ofHours(1);
    static final long LIVE = -1L;

    /** When a call was last seen; {@code endedMs} is {@link #LIVE} until its CallEnded. */
    record Mark(long lastSeenMs, long endedMs) {
        boolean ended() {
            return endedMs != LIVE;
        }
    }

    static final Schema SCHEMA = new Schema.Parser().parse("""
            {"type": "record", "name": "CallActivity", "namespace": "dev.omnicall.topologies.state",
             "doc": "Streams state (call lifecycle), keyed by call ID",
             "fields": [
               {"name": "lastSeenMs", "type": "long", "doc": "wall clock of the call's latest record, to within a minute"},
               {"name": "endedMs", "type": "long", "default": -1, "doc": "wall clock of its CallEnded; -1 while live"}
             ]}""");

    /** What {@link #admit} decided for a record. */
    enum Admission {
        /** The call is live. */
        LIVE,
        /** A CallStarted of a call ID that had ended: it is live again, and state kept from its end is stale. */
        RESTARTED,
        /** The call ended less than {@code endedGrace} ago and the record may still complete its transcript. */
        IN_END_GRACE,
        /** The call ended: the record must not touch any state. */
        REFUSED
    }

    private final KeyValueStore<String, Mark> store;
    private final long touchEveryMs;
    private final long endedGraceMs;

    CallActivity(KeyValueStore<String, Mark> store, ConversationConfig config) {
        this.store = store;
        this.touchEveryMs = touchEvery(config).toMillis();
        this.endedGraceMs = config.endedGrace().toMillis();
    }

    /**
     * How stale a live call's last-seen time may get before a record rewrites it: a minute (one small write
     * per call per minute, not one per record), finer when the TTL is short.
     */
    static Duration touchEvery(ConversationConfig config) {
        Duration minute = Duration.ofMinutes(1);
        Duration ttl = config.stateTtl();
        return ttl.isZero() || ttl.dividedBy(10).compareTo(minute) >= 0 ? minute : ttl.dividedBy(10);
    }

    /**
     * Whether a record of the call may be processed; a live call is marked seen. Every record of an ended call is
     * refused, except a CallStarted (a reused call ID), which makes it live again, and, for {@code endedGrace}
     * after the end, a record that {@code completesTranscript}.
     */
    Admission admit(String callId, boolean startsCall, boolean completesTranscript, long nowMs) {
        Mark m = store.get(callId);
        if (m != null && m.ended() && !startsCall) {
            return completesTranscript && nowMs - m.endedMs() < endedGraceMs ? Admission.IN_END_GRACE : Admission.REFUSED;
        }
        if (m == null || m.ended() || nowMs - m.lastSeenMs() >= touchEveryMs) {
            store.put(callId, new Mark(nowMs, LIVE));
        }
        return m != null && m.ended() ? Admission.RESTARTED : Admission.LIVE;
    }

    void ended(String callId, long nowMs) {
        store.put(callId, new Mark(nowMs, nowMs));
    }

    static Serde<Mark> serde() {
        BinaryMessageEncoder<GenericRecord> encoder = new BinaryMessageEncoder<>(GenericData.get(), SCHEMA);
        BinaryMessageDecoder<GenericRecord> decoder = new BinaryMessageDecoder<>(GenericData.get(), SCHEMA);
        return Serdes.serdeFrom(
                (topic, mark) -> {
                    if (mark == null) {
                        return null;
                    }
                    GenericRecord r = new GenericData.Record(SCHEMA);
                    r.put("lastSeenMs", mark.lastSeenMs());
                    r.put("endedMs", mark.endedMs());
                    try {
                        ByteBuffer buf = encoder.encode(r);
                        byte[] out = new byte[buf.remaining()];
                        buf.get(out);
                        return out;
                    } catch (IOException e) {
                        throw new SerializationException("cannot encode CallActivity for " + topic, e);
                    }
                },
                (topic, bytes) -> {
                    if (bytes == null) {
                        return null;
                    }
                    try {
                        GenericRecord r = decoder.decode(bytes);
                        return new Mark((Long) r.get("lastSeenMs"), (Long) r.get("endedMs"));
                    } catch (IOException | RuntimeException e) {
                        throw new SerializationException("cannot decode CallActivity from " + topic, e);
                    }
                });
    }
}
