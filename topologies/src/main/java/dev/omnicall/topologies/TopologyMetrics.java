package dev.omnicall.topologies;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * Counters of the conversation topology, readable by the app's metrics registry. Counting here keeps the
 * topology free of any metrics framework; {@link #snapshot()} gives name → count.
 */
public final class TopologyMetrics {

    public static final String DEAD_LETTERS = "dead_letters";
    /** Speculative turns: requested at a tentative end, confirmed, cancelled (the caller went on). */
    public static final String SPECULATIVE_TURNS = "speculative_turns";
    public static final String SPECULATIVE_TURNS_CONFIRMED = "speculative_turns_confirmed";
    public static final String SPECULATIVE_TURNS_CANCELLED = "speculative_turns_cancelled";
    /** Reply text and caller text of an open speculative turn, held until it is resolved. */
    public static final String RECORDS_HELD_FOR_SPECULATION = "records_held_for_speculation";
    /** Records of a cancelled speculative turn, dropped. */
    public static final String RECORDS_OF_CANCELLED_SPECULATION = "records_of_cancelled_speculation";
    /** Records of an open speculative turn beyond SpeculationGate.MAX_HELD, dropped. */
    public static final String SPECULATION_HOLD_OVERFLOW = "speculation_hold_overflow";
    /** A speculative utterance whose cancel came before it was complete: no request sent. */
    public static final String CANCELLED_BEFORE_REQUEST = "speculative_turns_cancelled_before_request";
    public static final String DUPLICATE_SEGMENTS = "duplicate_segments";
    public static final String LATE_SEGMENTS = "late_segments";
    public static final String CAPPED_SEGMENTS = "capped_segments";
    public static final String UTTERANCES_WITH_GAPS = "utterances_with_gaps";
    public static final String TURN_REQUESTS = "turn_requests";
    public static final String DUPLICATE_DELTAS = "duplicate_deltas";
    public static final String STALE_ATTEMPTS = "stale_attempts";
    public static final String TURNS_COMPLETED = "turns_completed";
    public static final String TURN_METRICS = "turn_metrics";
    public static final String CALLS_CLEARED = "calls_cleared";
    /** Reply deltas of a call with no conversation context (it ended): dropped, never stored. */
    public static final String DELTAS_WITHOUT_CONTEXT = "deltas_without_context";
    /**
     * Records of a call whose CallEnded was already processed: dropped before they touch any state, counted in
     * all and per source topic, e.g. {@code records_after_call_ended{response-audio}}.
     */
    public static final String RECORDS_AFTER_CALL_ENDED = "records_after_call_ended";
    /**
     * CallerTexts of a call whose CallEnded was processed, arriving within {@code endedGrace}: still taken into the
     * kept transcript (counted in all and per source topic, e.g. {@code records_in_end_grace{caller-text}}). One
     * arriving later is refused and counted in {@link #RECORDS_AFTER_CALL_ENDED}.
     */
    public static final String RECORDS_IN_END_GRACE = "records_in_end_grace";
    /** Ended calls whose kept transcript and context the sweep removed once {@code endedGrace} was over. */
    public static final String ENDED_CALLS_RELEASED = "ended_calls_released";
    /** Live calls not seen for {@code stateTtl} whose state the sweep removed (their CallEnded never came). */
    public static final String CALLS_EXPIRED = "calls_expired";
    /** Store entries (segments, progress, context, transcript, pending metrics) removed with those calls. */
    public static final String EXPIRED_STATE_ENTRIES = "expired_state_entries";
    /** Calls found in the stores with no activity entry (state older than this rule), given one so they can expire. */
    public static final String CALLS_ADOPTED = "calls_adopted";
    /** Ends of calls forgotten after {@code CallActivity.ENDED_MEMORY}. */
    public static final String ENDED_CALLS_FORGOTTEN = "ended_calls_forgotten";

    /** CallerTexts taken into the context and the transcript. */
    public static final String CALLER_TEXTS = "caller_texts";
    /** CallerTexts of a call with no conversation context (never requested, or forgotten): ignored. */
    public static final String CALLER_TEXTS_WITHOUT_CONTEXT = "caller_texts_without_context";
    /** CallerTexts of a turn the context does not know (never requested, or long gone): ignored. */
    public static final String CALLER_TEXTS_UNKNOWN_TURN = "caller_texts_unknown_turn";
    /** A CallerText of the same turn and attempt again (redelivery): ignored. */
    public static final String DUPLICATE_CALLER_TEXTS = "duplicate_caller_texts";
    /** A CallerText of an older attempt than the text or reply already taken for its turn: ignored. */
    public static final String STALE_CALLER_TEXTS = "stale_caller_texts";
    /** Interrupted replies cut to what the caller heard (BargeIn.playedTextChars known). */
    public static final String REPLIES_CUT = "replies_cut";
    /** BargeIns whose cut names another attempt than the reply collected: marked interrupted, not cut. */
    public static final String CUTS_OF_ANOTHER_ATTEMPT = "cuts_of_another_attempt";
    /** BargeIns of a turn the context does not know: ignored. */
    public static final String BARGE_INS_UNKNOWN_TURN = "barge_ins_unknown_turn";
    /** A second BargeIn of a turn (redelivery): the first one's cut stands. */
    public static final String DUPLICATE_BARGE_INS = "duplicate_barge_ins";

    private final ConcurrentHashMap<String, LongAdder> counters = new ConcurrentHashMap<>();

    public void increment(String name) {
        counters.computeIfAbsent(name, k -> new LongAdder()).increment();
    }

    /** Dead letters are counted per source topic and stage, e.g. {@code dead_letters{caller-audio,deserialize}}. */
    public void deadLetter(String topic, String stage) {
        increment(DEAD_LETTERS);
        increment(DEAD_LETTERS + "{" + topic + "," + stage + "}");
    }

    public void recordAfterCallEnded(String topic) {
        increment(RECORDS_AFTER_CALL_ENDED);
        increment(RECORDS_AFTER_CALL_ENDED + "{" + topic + "}");
    }

    public void recordInEndGrace(String topic) {
        increment(RECORDS_IN_END_GRACE);
        increment(RECORDS_IN_END_GRACE + "{" + topic + "}");
    }

    public void add(String name, long n) {
        if (n > 0) {
            counters.computeIfAbsent(name, k -> new LongAdder()).add(n);
        }
    }

    public long get(String name) {
        LongAdder a = counters.get(name);
        return a == null ? 0 : a.sum();
    }

    public Map<String, Long> snapshot() {
        Map<String, Long> out = new TreeMap<>();
        counters.forEach((k, v) -> out.put(k, v.sum()));
        return out;
    }
}
