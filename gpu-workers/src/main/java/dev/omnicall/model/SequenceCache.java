package dev.omnicall.model;

import ai.djl.ndarray.NDArray;

/**
 * What one sequence's attention keeps: keys and values of every layer for its cached positions, and what
 * each position holds ({@link #positionKeys()}: a token id, or a negative id for a speech row), which lets a
 * call reuse the cached prefix of its next turn's prompt. Two kinds: {@link KvCache} (the sequence's own
 * buffers, growing by doubling: the per-sequence path) and {@link KvPool.Slot} (one row of a model's
 * preallocated pool, which lets a decode step attend for the whole batch at once).
 */
public abstract sealed class SequenceCache implements AutoCloseable permits KvCache, KvPool.Slot {

    /** Cached positions. */
    public abstract int length();

    /** Cached positions' identities (token ids; negative ids for speech rows). */
    public abstract long[] positionKeys();

    /** Forgets every position from {@code newLength} on (the buffers keep their size). */
    public abstract void truncate(int newLength);

    /** Bytes this sequence holds on the device. */
    public abstract long deviceBytes();

    public abstract boolean isClosed();

    @Override
    public abstract void close();

    /** Makes room for count more positions (or fails saying why there is none). */
    abstract void reserve(long count);

    /**
     * Writes k, v [kvHeads, T, headDim] of layer at positions length..length+T-1 and returns views of all
     * cached keys and values including them ([kvHeads, length+T, headDim]). Call {@link #advance} once
     * every layer has appended.
     */
    abstract NDArray[] append(int layer, NDArray k, NDArray v);

    /** Commits T appended positions with their identities. */
    abstract void advance(long[] keysOfPositions);
}
