package dev.omnicall.model.stream;

import java.util.Collection;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Set;
import java.util.function.ToLongFunction;

/**
 * The chunked-prefill bound of issue 14: while turns speak, at most {@code slicesPerGap} slices of newcomers' starts
 * (the encoder slice included) fall between two consecutive audio chunks of any speaking turn. With each prompt slice
 * sized to cost at most half a decode step ({@link PrefillPacer}), a speaking turn's gap between two chunks then grows
 * by at most one decode step whatever the newcomers and however many steps the gap spans; paying one slice per loop
 * instead made a gap of k steps grow by k slices. A turn counts from its first chunk (before that it has no gap). The
 * encoder slice is one piece whatever it costs, so for it the bound holds only where the encoder costs at most a step.
 *
 * <p>The price is the newcomer's: its start advances by {@code slicesPerGap} slices per chunk gap of the slowest
 * speaking turn, not one per loop. The margin-aware form ({@link #mayRun(Collection, ToLongFunction, long)}) charges
 * it only while it buys something: a turn whose audio is far enough ahead of its playback does not hear a longer gap,
 * so it holds no slice back; the budget applies to the turns short of the margin. Slices are counted into every
 * speaking turn's gap either way, so a turn that falls short mid-gap holds the next slice back at once. Keys are
 * compared by identity. Not thread-safe: the engine's thread uses it.
 */
public final class PrefillGapBudget<K> {
    private final int slicesPerGap;
    /** Slices run since each speaking turn's last chunk (absent: none). */
    private final IdentityHashMap<K, Integer> slicesSinceChunk = new IdentityHashMap<>();

    /** @param slicesPerGap slices allowed in one chunk gap, at least 1 */
    public PrefillGapBudget(int slicesPerGap) {
        if (slicesPerGap < 1) {
            throw new IllegalArgumentException("a chunk gap must allow at least one prefill slice, got " + slicesPerGap);
        }
        this.slicesPerGap = slicesPerGap;
    }

    /** True when one more slice keeps every speaking turn's current gap within the budget. */
    public boolean mayRun(Collection<K> speaking) {
        return mayRun(speaking, k -> 0, Long.MAX_VALUE);
    }

    /**
     * True when one more slice keeps the current gap within the budget for every speaking turn that is less than
     * {@code thresholdUs} ahead of its playback ({@code marginUs}: audio out minus audio played, µs); a turn at or
     * above the threshold may take any number of slices into its gap. {@code Long.MAX_VALUE}: every turn is held to
     * the budget ({@link #mayRun(Collection)}).
     */
    public boolean mayRun(Collection<K> speaking, ToLongFunction<K> marginUs, long thresholdUs) {
        for (K k : speaking) {
            if (slicesSinceChunk.getOrDefault(k, 0) >= slicesPerGap
                    && (thresholdUs == Long.MAX_VALUE || marginUs.applyAsLong(k) < thresholdUs)) {
                return false;
            }
        }
        return true;
    }

    /** A slice ran: it falls into the current gap of every speaking turn (turns no longer speaking are forgotten). */
    public void sliceRan(Collection<K> speaking) {
        Set<K> now = Collections.newSetFromMap(new IdentityHashMap<>());
        now.addAll(speaking);
        slicesSinceChunk.keySet().retainAll(now);
        for (K k : speaking) {
            slicesSinceChunk.merge(k, 1, Integer::sum);
        }
    }

    /** The turn handed out an audio chunk: its next gap starts with no slice in it. */
    public void chunk(K turn) {
        slicesSinceChunk.remove(turn);
    }

    /** Slices in the turn's current gap so far. */
    public int slicesInGap(K turn) {
        return slicesSinceChunk.getOrDefault(turn, 0);
    }
}
