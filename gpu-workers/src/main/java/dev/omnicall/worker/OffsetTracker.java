package dev.omnicall.worker;

import org.apache.kafka.common.TopicPartition;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * At-least-once commit bookkeeping. Per partition it remembers the offsets still being worked on and the
 * highest offset seen; the safe commit position is the lowest unfinished offset, or one past the highest
 * seen when nothing is unfinished. A turn at offset 7 still generating therefore holds the commit at 7 even
 * when the turns at 8 and 9 are done: after a crash all three are read again, never one skipped.
 *
 * <p>Not thread-safe: used from the worker's loop thread only.
 */
public final class OffsetTracker {

    private static final class PartitionState {
        final TreeSet<Long> unfinished = new TreeSet<>();
        long highestSeen = -1;
        long committed = -1;
    }

    /** A handled record whose commit waits until {@code guard} is finished up to {@code threshold}. */
    private record Waiter(TopicPartition tp, long offset, TopicPartition guard, long threshold) {
    }

    private final Map<TopicPartition, PartitionState> partitions = new HashMap<>();
    private final List<Waiter> waiters = new ArrayList<>();

    /** A record at {@code offset} was read and its work began. */
    public void begin(TopicPartition tp, long offset) {
        PartitionState s = partitions.computeIfAbsent(tp, k -> new PartitionState());
        s.unfinished.add(offset);
        s.highestSeen = Math.max(s.highestSeen, offset);
    }

    /** The work of the record at {@code offset} completed, was cancelled or dead-lettered. */
    public void finish(TopicPartition tp, long offset) {
        PartitionState s = partitions.get(tp);
        if (s != null) {
            s.unfinished.remove(offset);
        }
    }

    /** A record handled at once (a call event, a dead letter): begin and finish in one. */
    public void handled(TopicPartition tp, long offset) {
        begin(tp, offset);
        finish(tp, offset);
    }

    /**
     * A record handled at once whose commit must not pass the work read before it on {@code guard}: a
     * BargeIn or CallEnded on call-events stays uncommitted while the turns already read from the same
     * partition of turn-requests run, so after a crash the new owner reads the cancel again with them.
     */
    public void handledAfter(TopicPartition tp, long offset, TopicPartition guard) {
        PartitionState g = partitions.get(guard);
        if (g == null || g.unfinished.isEmpty()) {
            handled(tp, offset);
            return;
        }
        begin(tp, offset);
        waiters.add(new Waiter(tp, offset, guard, g.highestSeen + 1));
    }

    private void releaseWaiters() {
        waiters.removeIf(w -> {
            PartitionState g = partitions.get(w.guard);
            if (g == null || safePosition(w.guard) >= w.threshold) {
                finish(w.tp, w.offset);
                return true;
            }
            return false;
        });
    }

    /** The offset to commit for {@code tp} (the next record to read after a restart), or -1 if none seen. */
    public long safePosition(TopicPartition tp) {
        PartitionState s = partitions.get(tp);
        if (s == null || s.highestSeen < 0) {
            return -1;
        }
        return s.unfinished.isEmpty() ? s.highestSeen + 1 : s.unfinished.first();
    }

    /** Offsets that moved since the last {@link #markCommitted}: partition to position. */
    public Map<TopicPartition, Long> pendingCommits() {
        releaseWaiters();
        Map<TopicPartition, Long> out = new HashMap<>();
        partitions.forEach((tp, s) -> {
            long pos = safePosition(tp);
            if (pos > s.committed) {
                out.put(tp, pos);
            }
        });
        return out;
    }

    /** Records that {@code positions} were committed. */
    public void markCommitted(Map<TopicPartition, Long> positions) {
        positions.forEach((tp, pos) -> {
            PartitionState s = partitions.get(tp);
            if (s != null) {
                s.committed = Math.max(s.committed, pos);
            }
        });
    }

    /** Unfinished records on {@code tp}. */
    public int unfinished(TopicPartition tp) {
        PartitionState s = partitions.get(tp);
        return s == null ? 0 : s.unfinished.size();
    }

    /** Forgets partitions this worker no longer owns. */
    public void forget(Collection<TopicPartition> revoked) {
        revoked.forEach(partitions::remove);
        waiters.removeIf(w -> revoked.contains(w.tp));
    }
}
