package dev.omnicall.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * Keys and values of one sequence for every layer, in preallocated buffers that grow by doubling, so a
 * decode step writes one slot in place instead of copying the whole history. {@link #positionKeys()}
 * remembers what each cached position holds (a token id, or a negative id for a speech row), which is
 * what lets a call reuse the cached prefix of its next turn's prompt.
 */
public final class KvCache extends SequenceCache {
    private final NDManager manager;
    private final NDArray[] keys; // per layer [kvHeads, capacity, headDim]
    private final NDArray[] values; // per layer [kvHeads, capacity, headDim]
    private final long kvHeads;
    private final long headDim;
    private final DataType type;
    private long capacity;
    private int length;
    private long[] positionKeys = new long[64];
    private boolean closed;

    KvCache(NDManager parent, int layers, long kvHeads, long headDim, DataType type, long initialCapacity) {
        this.manager = parent.newSubManager();
        this.keys = new NDArray[layers];
        this.values = new NDArray[layers];
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.type = type;
        this.capacity = Math.max(16, initialCapacity);
        for (int i = 0; i < layers; i++) {
            keys[i] = allocate(capacity);
            values[i] = allocate(capacity);
        }
    }

    /** A copy of this cache (same capacity, positions and identities) that grows and closes on its own. */
    KvCache copy() {
        if (closed) {
            throw new IllegalStateException("cache is closed");
        }
        KvCache c = new KvCache(manager.getParentManager(), keys.length, kvHeads, headDim, type, capacity);
        if (length > 0) {
            try (NDScope scope = new NDScope()) { // the views read from are freed here
                scope.suppressNotUsedWarning();
                NDIndex upTo = new NDIndex(":, :{}", length);
                for (int i = 0; i < keys.length; i++) {
                    c.keys[i].set(upTo, keys[i].get(upTo));
                    c.values[i].set(upTo, values[i].get(upTo));
                }
            }
        }
        c.positionKeys = java.util.Arrays.copyOf(positionKeys, positionKeys.length);
        c.length = length;
        return c;
    }

    /** Views of one layer's keys and values over the held positions, [kvHeads, length, headDim] each. */
    NDArray[] heldPositions(int layer) {
        if (closed) {
            throw new IllegalStateException("cache is closed");
        }
        NDIndex upTo = new NDIndex(":, :{}", length);
        return new NDArray[] {keys[layer].get(upTo), values[layer].get(upTo)};
    }

    private NDArray allocate(long cap) {
        NDArray a = manager.zeros(new Shape(kvHeads, cap, headDim), type);
        NDScope.unregister(a);
        return a;
    }

    @Override
    public int length() {
        return length;
    }

    @Override
    public long[] positionKeys() {
        return java.util.Arrays.copyOf(positionKeys, length);
    }

    @Override
    public void truncate(int newLength) {
        if (newLength < 0 || newLength > length) {
            throw new IllegalArgumentException("cannot truncate a cache of " + length + " to " + newLength);
        }
        length = newLength;
    }

    @Override
    void reserve(long count) {
        long needed = length + count;
        if (needed <= capacity) {
            return;
        }
        long newCapacity = Math.max(needed, capacity * 2);
        for (int i = 0; i < keys.length; i++) {
            keys[i] = grow(keys[i], newCapacity);
            values[i] = grow(values[i], newCapacity);
        }
        capacity = newCapacity;
    }

    private NDArray grow(NDArray old, long newCapacity) {
        NDArray bigger = allocate(newCapacity);
        if (length > 0) {
            bigger.set(new NDIndex(":, :{}", length), old.get(new NDIndex(":, :{}", length)));
        }
        old.close();
        return bigger;
    }

    @Override
    NDArray[] append(int layer, NDArray k, NDArray v) {
        long t = k.getShape().get(1);
        if (length + t > capacity) {
            throw new IllegalStateException("reserve() before append: capacity " + capacity);
        }
        NDIndex slot = new NDIndex(":, {}:{}", length, length + t);
        keys[layer].set(slot, k);
        values[layer].set(slot, v);
        NDIndex upTo = new NDIndex(":, :{}", length + t);
        return new NDArray[] {keys[layer].get(upTo), values[layer].get(upTo)};
    }

    @Override
    void advance(long[] keysOfPositions) {
        int t = keysOfPositions.length;
        if (length + t > positionKeys.length) {
            positionKeys = java.util.Arrays.copyOf(positionKeys, Math.max(length + t, positionKeys.length * 2));
        }
        System.arraycopy(keysOfPositions, 0, positionKeys, length, t);
        length += t;
    }

    /** Bytes held on the device (for the worker's eviction policy). */
    @Override
    public long deviceBytes() {
        return 2L * keys.length * kvHeads * capacity * headDim * type.getNumOfBytes();
    }

    @Override
    public boolean isClosed() {
        return closed;
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            manager.close();
        }
    }
}
