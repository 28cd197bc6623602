package dev.omnicall.topologies;

import dev.omnicall.events.TurnMetrics;
import dev.omnicall.events.TurnTimings;
import dev.omnicall.state.PendingTurnMetrics;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.common.serialization.StringSerializer;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Joins the two halves of a turn's latency split: the worker's stamps (carried by the attempt's first
 * AudioChunk) and the bridge's stamps (PlaybackStarted). When both are in, one TurnMetrics goes out. On
 * CallEnded, halves still waiting go out as they are, with the missing stages null.
 */
final class TurnMetricsBook {

    private final KeyValueStore<String, PendingTurnMetrics> store;

    TurnMetricsBook(KeyValueStore<String, PendingTurnMetrics> store) {
        this.store = store;
    }

    Optional<TurnMetrics> firstChunk(String callId, int turnId, int attempt, TurnTimings timings) {
        String key = StoreKeys.turnAttempt(callId, turnId, attempt);
        PendingTurnMetrics p = load(key, callId, turnId, attempt);
        if (p.getChunkTimings() != null) {
            return Optional.empty();                      // duplicate first chunk
        }
        p.setChunkTimings(timings);
        return completeOrSave(key, p);
    }

    Optional<TurnMetrics> playbackStarted(String callId, int turnId, int attempt, long chunkReceivedUs, long firstRtpUs) {
        String key = StoreKeys.turnAttempt(callId, turnId, attempt);
        PendingTurnMetrics p = load(key, callId, turnId, attempt);
        p.setChunkReceivedUs(chunkReceivedUs);
        p.setFirstRtpUs(firstRtpUs);
        return completeOrSave(key, p);
    }

    /** Drops whatever waits for the turn (every attempt): a cancelled speculative turn has no first-audio latency. */
    void forget(String callId, int turnId) {
        List<String> keys = new ArrayList<>();
        try (KeyValueIterator<String, PendingTurnMetrics> it = store.prefixScan(StoreKeys.callPrefix(callId), new StringSerializer())) {
            while (it.hasNext()) {
                var kv = it.next();
                if (kv.value.getTurnId() == turnId) {
                    keys.add(kv.key);
                }
            }
        }
        keys.forEach(store::delete);
    }

    /** Everything still waiting for this call, as partial metrics; the entries are removed. */
    List<TurnMetrics> flush(String callId) {
        List<TurnMetrics> out = new ArrayList<>();
        List<String> keys = new ArrayList<>();
        try (KeyValueIterator<String, PendingTurnMetrics> it = store.prefixScan(StoreKeys.callPrefix(callId), new StringSerializer())) {
            while (it.hasNext()) {
                var kv = it.next();
                keys.add(kv.key);
                out.add(toMetrics(kv.value));
            }
        }
        keys.forEach(store::delete);
        return out;
    }

    private PendingTurnMetrics load(String key, String callId, int turnId, int attempt) {
        PendingTurnMetrics p = store.get(key);
        return p != null ? p : PendingTurnMetrics.newBuilder().setCallId(callId).setTurnId(turnId).setAttempt(attempt).build();
    }

    private Optional<TurnMetrics> completeOrSave(String key, PendingTurnMetrics p) {
        if (p.getChunkTimings() != null && p.getFirstRtpUs() != null) {
            store.delete(key);
            return Optional.of(toMetrics(p));
        }
        store.put(key, p);
        return Optional.empty();
    }

    static TurnMetrics toMetrics(PendingTurnMetrics p) {
        TurnTimings t = p.getChunkTimings() == null ? new TurnTimings() : TurnTimings.newBuilder(p.getChunkTimings()).build();
        if (p.getChunkReceivedUs() != null) {
            t.setChunkReceivedUs(p.getChunkReceivedUs());
        }
        if (p.getFirstRtpUs() != null) {
            t.setFirstRtpUs(p.getFirstRtpUs());
        }
        return TurnMetricsCalculator.compute(p.getCallId(), p.getTurnId(), p.getAttempt(), t);
    }
}
