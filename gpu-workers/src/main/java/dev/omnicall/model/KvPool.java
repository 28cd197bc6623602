package dev.omnicall.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.Arrays;

/**
 * A model's KV-cache pool on the device: per layer one keys and one values array [slots, kvHeads, capacity,
 * headDim], allocated once. A running turn holds a {@link Slot}; when the turn ends its call may keep the slot
 * ({@link Slot#park()}) for its next turn's prefix reuse until a newcomer needs the memory: {@link #acquire()}
 * takes a free slot, else evicts the slot kept longest without use (LRU), else answers null (every slot runs a
 * turn). Because every running sequence lives in the same arrays, one decode step writes the new keys and
 * values of all its rows with one index-put per array and attends for all rows at once
 * ({@link #writeAndGather}): the number of native operations per step does not depend on the batch size.
 *
 * <p>Family agnostic: it knows layers, KV heads, head size and positions, nothing of RoPE, GQA grouping or
 * weights. Single-threaded, like the generator that drives it.
 */
public final class KvPool implements AutoCloseable {
    private final NDManager manager;
    private final NDArray[] keys; // per layer [slots, kvHeads, capacity, headDim]
    private final NDArray[] values;
    private final long kvHeads;
    private final long headDim;
    private final DataType type;
    private final int slots;
    private final long capacity;
    private final Slot[] holders; // the lease holding each slot, null = free
    private long clock;
    private long evictions;
    private boolean closed;

    KvPool(NDManager parent, int layers, long kvHeads, long headDim, DataType type, int slots, long capacity) {
        if (slots < 1 || capacity < 1) {
            throw new IllegalArgumentException("a KV pool needs >= 1 slot and >= 1 position, got " + slots
                    + " slots of " + capacity);
        }
        this.manager = parent.newSubManager();
        this.keys = new NDArray[layers];
        this.values = new NDArray[layers];
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.type = type;
        this.slots = slots;
        this.capacity = capacity;
        this.holders = new Slot[slots];
        Shape shape = new Shape(slots, kvHeads, capacity, headDim);
        for (int i = 0; i < layers; i++) {
            keys[i] = manager.zeros(shape, type);
            values[i] = manager.zeros(shape, type);
            NDScope.unregister(keys[i], values[i]);
        }
    }

    /** Device bytes of one slot: keys and values of every layer for capacity positions. */
    public static long slotBytes(int layers, long kvHeads, long headDim, DataType type, long capacity) {
        return 2L * layers * kvHeads * capacity * headDim * type.getNumOfBytes();
    }

    public int slots() {
        return slots;
    }

    /** Positions one slot holds (prompt + reply of one turn, with the call's earlier turns). */
    public long capacity() {
        return capacity;
    }

    public long slotBytes() {
        return slotBytes(keys.length, kvHeads, headDim, type, capacity);
    }

    public long deviceBytes() {
        return slotBytes() * slots;
    }

    /** Slots held by running turns. */
    public int running() {
        int n = 0;
        for (Slot s : holders) {
            n += s != null && s.running ? 1 : 0;
        }
        return n;
    }

    /** Slots kept for calls between their turns (evictable). */
    public int kept() {
        int n = 0;
        for (Slot s : holders) {
            n += s != null && !s.running ? 1 : 0;
        }
        return n;
    }

    /** Kept slots taken back for newcomers so far. */
    public long evictions() {
        return evictions;
    }

    /**
     * A slot for a new sequence, running and empty: a free one, else the kept slot unused the longest (its call
     * loses its cache: {@link Slot#isClosed()} turns true and its next turn prefills in full); null when every
     * slot runs a turn.
     */
    public Slot acquire() {
        if (closed) {
            throw new IllegalStateException("the KV pool is closed");
        }
        int chosen = -1;
        for (int i = 0; i < slots && chosen < 0; i++) {
            if (holders[i] == null) {
                chosen = i;
            }
        }
        if (chosen < 0) {
            long oldest = Long.MAX_VALUE;
            for (int i = 0; i < slots; i++) {
                if (!holders[i].running && holders[i].lastUsed < oldest) {
                    oldest = holders[i].lastUsed;
                    chosen = i;
                }
            }
            if (chosen < 0) {
                return null;
            }
            holders[chosen].closed = true;
            holders[chosen] = null;
            evictions++;
        }
        Slot s = new Slot(chosen);
        holders[chosen] = s;
        return s;
    }

    /**
     * One decode step of B rows in this pool, one layer: writes k, v [B, kvHeads, headDim] at position
     * positions[b] of slot slotIndex[b] (one index-put per array) and returns the B slots' keys and values over
     * their first span positions, [B, kvHeads, span, headDim]: a view of the pool when the slots are the run
     * firstSlot, firstSlot + 1, ... ({@link #firstOfRun}), else one gather (a copy) each. Positions past a row's own
     * length hold stale or zero values: the caller masks them.
     */
    NDArray[] writeAndGather(int layer, NDArray slotIndex, long firstSlot, NDArray positions, NDArray k, NDArray v,
            long span) {
        NDIndex at = new NDIndex("{}, :, {}", slotIndex, positions);
        keys[layer].set(at, k);
        values[layer].set(at, v);
        return slotsUpTo(layer, slotIndex, firstSlot, k.getShape().get(0), span);
    }

    /**
     * T new positions per row, one layer: writes k, v [B, T, kvHeads, headDim] at positions [B, T] of the slots
     * slotColumn [B, 1] (one index-put per array; row b's positions are consecutive from its length) and returns the
     * B slots' keys and values over their first span positions, [B, kvHeads, span, headDim]: a view when the slots
     * are the run firstSlot, firstSlot + 1, ..., else gathered by slotIndex [B]. The caller masks what lies past each
     * row's own positions.
     */
    NDArray[] writeFramesAndGather(int layer, NDArray slotColumn, NDArray positions, NDArray slotIndex,
            long firstSlot, NDArray k, NDArray v, long span) {
        NDIndex at = new NDIndex("{}, :, {}", slotColumn, positions);
        keys[layer].set(at, k);
        values[layer].set(at, v);
        return slotsUpTo(layer, slotIndex, firstSlot, k.getShape().get(0), span);
    }

    /**
     * The first slot of {@code slots} when they are consecutive and ascending (firstSlot, firstSlot + 1, ...): a
     * step's rows can then read the pool through a view instead of a gather; -1 otherwise.
     */
    static long firstOfRun(long[] slots) {
        for (int j = 1; j < slots.length; j++) {
            if (slots[j] != slots[0] + j) {
                return -1;
            }
        }
        return slots.length == 0 ? -1 : slots[0];
    }

    /**
     * Keys and values of b slots over their first span positions, [b, kvHeads, span, headDim]: a slice of the pool
     * (a view: no copy, one native op) when firstSlot >= 0, else a gather by slotIndex. The same numbers either way;
     * the view saves copying every row's whole cache once per layer and step, which grows with the batch.
     */
    private NDArray[] slotsUpTo(int layer, NDArray slotIndex, long firstSlot, long b, long span) {
        NDIndex rows = firstSlot >= 0 ? new NDIndex("{}:{}, :, :{}", firstSlot, firstSlot + b, span)
                : new NDIndex("{}, :, :{}", slotIndex, span);
        return new NDArray[] {keys[layer].get(rows), values[layer].get(rows)};
    }

    /** Frees the device memory; every slot is closed. */
    @Override
    public void close() {
        if (!closed) {
            closed = true;
            for (Slot s : holders) {
                if (s != null) {
                    s.closed = true;
                }
            }
            Arrays.fill(holders, null);
            manager.close();
        }
    }

    public boolean isClosed() {
        return closed;
    }

    /** One sequence's row of the pool, held while its turn runs and, parked, while its call keeps it. */
    public final class Slot extends SequenceCache {
        private final int index;
        private int length;
        private long[] positionKeys = new long[64];
        private boolean running = true;
        private long lastUsed;
        private boolean closed;

        private Slot(int index) {
            this.index = index;
        }

        public KvPool pool() {
            return KvPool.this;
        }

        int index() {
            return index;
        }

        /** True while a turn runs in it (not evictable); false while parked for its call. */
        public boolean isRunning() {
            return running;
        }

        /** The turn ended: the call keeps the slot until the pool needs it for a newcomer (LRU). */
        public void park() {
            running = false;
            lastUsed = ++clock;
        }

        /** A turn runs in it again (its call's next turn). */
        public void resume() {
            if (closed) {
                throw new IllegalStateException("slot " + index + " was evicted or closed");
            }
            running = true;
        }

        @Override
        public int length() {
            return length;
        }

        @Override
        public long[] positionKeys() {
            return Arrays.copyOf(positionKeys, length);
        }

        @Override
        public void truncate(int newLength) {
            if (newLength < 0 || newLength > length) {
                throw new IllegalArgumentException("cannot truncate a cache of " + length + " to " + newLength);
            }
            length = newLength;
        }

        @Override
        public long deviceBytes() {
            return slotBytes();
        }

        @Override
        public boolean isClosed() {
            return closed;
        }

        @Override
        public void close() {
            if (!closed) {
                closed = true;
                if (holders[index] == this) {
                    holders[index] = null;
                }
            }
        }

        @Override
        void reserve(long count) {
            if (closed) {
                throw new IllegalStateException("slot " + index + " was evicted or closed");
            }
            if (length + count > capacity) {
                throw new IllegalStateException("a KV pool slot holds " + capacity + " positions: " + length
                        + " cached + " + count + " new do not fit");
            }
        }

        @Override
        NDArray[] append(int layer, NDArray k, NDArray v) {
            long t = k.getShape().get(1);
            reserve(t);
            NDIndex at = new NDIndex("{}, :, {}:{}", index, length, length + t);
            keys[layer].set(at, k);
            values[layer].set(at, v);
            NDIndex upTo = new NDIndex("{}, :, :{}", index, length + t);
            return new NDArray[] {keys[layer].get(upTo), values[layer].get(upTo)};
        }

        @Override
        void advance(long[] keysOfPositions) {
            int t = keysOfPositions.length;
            if (length + t > positionKeys.length) {
                positionKeys = Arrays.copyOf(positionKeys, Math.max(length + t, positionKeys.length * 2));
            }
            System.arraycopy(keysOfPositions, 0, positionKeys, length, t);
            length += t;
        }
    }
}
