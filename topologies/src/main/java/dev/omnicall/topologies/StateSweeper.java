package dev.omnicall.topologies;

import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The safety net for calls whose CallEnded never comes (a bridge lost for good, with no successor to sweep up
 * its orphans). Run by a wall-clock punctuator: a live call not seen for {@code stateTtl} loses every entry it
 * has in every store, counted ({@code calls_expired}, {@code expired_state_entries}). Nothing goes out for it:
 * nobody knows how or when the call really ended, so no transcript is closed and no metrics are flushed on its
 * behalf. Its end is then remembered as a CallEnded's would be, so a straggler cannot bring the call back; the
 * ends of calls are forgotten after {@link CallActivity#ENDED_MEMORY}.
 *
 * <p>It also releases what an ended call kept for {@code endedGrace} (its transcript and the text of its context,
 * for a CallerText still on its way) once that is over ({@code ended_calls_released}): such state lives at most
 * the grace plus one sweep interval.
 *
 * <p>State written before the activity store existed has no entry there, so its first sweep after the task
 * opens gives every call found in the stores an entry seen now ({@code calls_adopted}): such calls (the
 * contexts BUG-3 left behind among them) expire a TTL later. With {@code stateTtl} zero only ends are
 * forgotten.
 */
final class StateSweeper {

    private final KeyValueStore<String, CallActivity.Mark> activity;
    /** Stores keyed by the call ID itself. */
    private final List<KeyValueStore<String, ?>> byCall;
    /** Stores keyed by call ID + NUL + more (one call, many entries). */
    private final List<KeyValueStore<String, ?>> byCallPrefix;
    private final long ttlMs;
    private final long endedGraceMs;
    private final TopologyMetrics metrics;
    private boolean adopted;

    StateSweeper(KeyValueStore<String, CallActivity.Mark> activity, List<KeyValueStore<String, ?>> byCall,
                 List<KeyValueStore<String, ?>> byCallPrefix, ConversationConfig config, TopologyMetrics metrics) {
        this.activity = activity;
        this.byCall = byCall;
        this.byCallPrefix = byCallPrefix;
        this.ttlMs = config.stateTtl().toMillis();
        this.endedGraceMs = config.endedGrace().toMillis();
        this.metrics = metrics;
    }

    void sweep(long nowMs) {
        if (ttlMs > 0 && !adopted) {
            adoptUntracked(nowMs);
            adopted = true;
        }
        List<String> expired = new ArrayList<>();
        List<String> forgotten = new ArrayList<>();
        List<String> graceOver = new ArrayList<>();
        try (KeyValueIterator<String, CallActivity.Mark> it = activity.all()) {
            while (it.hasNext()) {
                KeyValue<String, CallActivity.Mark> kv = it.next();
                CallActivity.Mark m = kv.value;
                if (m.ended()) {
                    if (nowMs - m.endedMs() >= CallActivity.ENDED_MEMORY.toMillis()) {
                        forgotten.add(kv.key);
                    }
                    if (nowMs - m.endedMs() >= endedGraceMs) {
                        graceOver.add(kv.key);
                    }
                } else if (ttlMs > 0 && nowMs - m.lastSeenMs() >= ttlMs) {
                    expired.add(kv.key);
                }
            }
        }
        for (String callId : expired) {
            metrics.add(TopologyMetrics.EXPIRED_STATE_ENTRIES, removeState(callId));
            activity.put(callId, new CallActivity.Mark(nowMs, nowMs));
            metrics.increment(TopologyMetrics.CALLS_EXPIRED);
        }
        for (String callId : graceOver) {
            if (releaseKept(callId)) {
                metrics.increment(TopologyMetrics.ENDED_CALLS_RELEASED);
            }
        }
        forgotten.forEach(activity::delete);
        metrics.add(TopologyMetrics.ENDED_CALLS_FORGOTTEN, forgotten.size());
    }

    /**
     * Deletes what an ended call kept for its grace period (its transcript and context, in the stores keyed by call
     * ID); reads first, so that the calls released before cost no changelog write. True when there was something.
     */
    private boolean releaseKept(String callId) {
        boolean released = false;
        for (KeyValueStore<String, ?> s : byCall) {
            if (s.get(callId) != null) {
                s.delete(callId);
                released = true;
            }
        }
        return released;
    }

    /** Deletes the call's entries from every store; returns how many there were. */
    private int removeState(String callId) {
        int removed = 0;
        for (KeyValueStore<String, ?> s : byCall) {
            if (s.delete(callId) != null) {
                removed++;
            }
        }
        for (KeyValueStore<String, ?> s : byCallPrefix) {
            List<String> keys = new ArrayList<>();
            try (KeyValueIterator<String, ?> it = s.prefixScan(StoreKeys.callPrefix(callId), new StringSerializer())) {
                it.forEachRemaining(kv -> keys.add(kv.key));
            }
            keys.forEach(s::delete);
            removed += keys.size();
        }
        return removed;
    }

    private void adoptUntracked(long nowMs) {
        Set<String> calls = new HashSet<>();
        for (KeyValueStore<String, ?> s : byCall) {
            collectCallIds(s, calls);
        }
        for (KeyValueStore<String, ?> s : byCallPrefix) {
            collectCallIds(s, calls);
        }
        int adopted = 0;
        for (String callId : calls) {
            if (activity.get(callId) == null) {
                activity.put(callId, new CallActivity.Mark(nowMs, CallActivity.LIVE));
                adopted++;
            }
        }
        metrics.add(TopologyMetrics.CALLS_ADOPTED, adopted);
    }

    private static void collectCallIds(KeyValueStore<String, ?> store, Set<String> into) {
        try (KeyValueIterator<String, ?> it = store.all()) {
            it.forEachRemaining(kv -> into.add(StoreKeys.callIdOf(kv.key)));
        }
    }
}
