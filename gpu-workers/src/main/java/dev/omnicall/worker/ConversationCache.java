package dev.omnicall.worker;

import dev.omnicall.worker.engine.ConversationSnapshot;

import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * The per-call KV cache kept between turns while this worker owns the call's partition. Bounded in bytes:
 * putting a snapshot evicts the least recently used calls until the total fits. A snapshot larger than the
 * whole bound is not kept. Dropped for a call on CallEnded and for a partition on revocation; a call whose
 * snapshot is gone is rebuilt from the history in its next TurnRequest.
 *
 * <p>{@link #take} hands the snapshot to the caller (a turn that starts owns it); the turn puts the new
 * state back when it completes. Not thread-safe: used from the worker's loop thread only.
 */
public final class ConversationCache {

    private record Entry(ConversationSnapshot snapshot, int partition) {
    }

    private final long maxBytes;
    private final WorkerMetrics metrics;
    // access order: the first entry is the least recently used
    private final LinkedHashMap<String, Entry> entries = new LinkedHashMap<>(16, 0.75f, true);
    private long bytes;
    private long hits;
    private long misses;
    private long evictions;

    public ConversationCache(long maxBytes, WorkerMetrics metrics) {
        if (maxBytes < 0) {
            throw new IllegalArgumentException("kv cache bound must be >= 0 bytes, got " + maxBytes);
        }
        this.maxBytes = maxBytes;
        this.metrics = metrics;
    }

    /** Removes and returns the call's snapshot, or null; counts a hit or a miss. */
    public ConversationSnapshot take(String callId) {
        Entry e = entries.remove(callId);
        if (e == null) {
            misses++;
            metrics.kvCache(false);
            return null;
        }
        bytes -= e.snapshot.bytes();
        hits++;
        metrics.kvCache(true);
        return e.snapshot;
    }

    /** Keeps {@code snapshot} for the call (replacing an older one), evicting LRU calls to stay in bound. */
    public void put(String callId, int partition, ConversationSnapshot snapshot) {
        drop(callId);
        long size = snapshot.bytes();
        if (size > maxBytes) {
            snapshot.close();
            evictions++;
            return;
        }
        Iterator<Map.Entry<String, Entry>> it = entries.entrySet().iterator();
        while (bytes + size > maxBytes && it.hasNext()) {
            Entry victim = it.next().getValue();
            it.remove();
            bytes -= victim.snapshot.bytes();
            victim.snapshot.close();
            evictions++;
        }
        entries.put(callId, new Entry(snapshot, partition));
        bytes += size;
    }

    /** Forgets the call (CallEnded). */
    public void drop(String callId) {
        Entry e = entries.remove(callId);
        if (e != null) {
            bytes -= e.snapshot.bytes();
            e.snapshot.close();
        }
    }

    /** Forgets every call on the given partitions (they were revoked from this worker). */
    public void dropPartitions(Set<Integer> partitions) {
        entries.entrySet().removeIf(me -> {
            if (partitions.contains(me.getValue().partition)) {
                bytes -= me.getValue().snapshot.bytes();
                me.getValue().snapshot.close();
                return true;
            }
            return false;
        });
    }

    /** Frees everything. */
    public void clear() {
        entries.values().forEach(e -> e.snapshot.close());
        entries.clear();
        bytes = 0;
    }

    public boolean contains(String callId) {
        return entries.containsKey(callId);
    }

    public int size() {
        return entries.size();
    }

    public long bytes() {
        return bytes;
    }

    public long hits() {
        return hits;
    }

    public long misses() {
        return misses;
    }

    public long evictions() {
        return evictions;
    }
}
