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
 * ({@link #writeAndGather}): the number of native operations per step does not depend on the batch size. The rows
 * read their slots through one view of the pool (no copy) when the slots lie within a {@link Window} of at most twice
 * as many slots as rows (the slots between, of ended or parked turns, are computed and dropped), else by a gather.
 *
 * <p>Family agnostic: it knows layers, KV heads, head size and positions, nothing of RoPE, GQA grouping or
 * weights. Single-threaded, like the generator that drives it.
 */
public final class KvPool implements AutoCloseable {
    /** A step's rows read the pool through one view while its window holds at most this many slots per row. */
    static final int DEFAULT_WINDOW_FACTOR = 2;

    private final NDManager parent; // the model's: caches moved out of the pool outlive it
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
    private int windowFactor = DEFAULT_WINDOW_FACTOR;

    KvPool(NDManager parent, int layers, long kvHeads, long headDim, DataType type, int slots, long capacity) {
        if (slots < 1 || capacity < 1) {
            throw new IllegalArgumentException("a KV pool needs >= 1 slot and >= 1 position, got " + slots
                    + " slots of " + capacity);
        }
        this.parent = parent;
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
     * positions[b] of slot slotIndex[b] (one index-put per array) and returns keys and values over the first span
     * positions of the slots the rows read, [W, kvHeads, span, headDim]: with a {@link Window} (non-null) a view of
     * its W slots (the rows' own and any between them), else one gather (a copy) each of the B rows' slots (W = B).
     * Positions past a row's own length, and the rows of slots between, hold stale or zero values: the caller masks
     * them, or drops them.
     */
    NDArray[] writeAndGather(int layer, NDArray slotIndex, Window window, NDArray positions, NDArray k, NDArray v,
            long span) {
        NDIndex at = new NDIndex("{}, :, {}", slotIndex, positions);
        keys[layer].set(at, k);
        values[layer].set(at, v);
        return slotsUpTo(layer, slotIndex, window, span);
    }

    /**
     * T new positions per row, one layer: writes k, v [B, T, kvHeads, headDim] at positions [B, T] of the slots
     * slotColumn [B, 1] (one index-put per array; row b's positions are consecutive from its length) and returns keys
     * and values over the first span positions of the slots the rows read, [W, kvHeads, span, headDim]: a view of the
     * window's W slots, or (window null) the B rows' slots gathered by slotIndex [B]. The caller masks what lies past
     * each row's own positions and drops the rows of slots between.
     */
    NDArray[] writeFramesAndGather(int layer, NDArray slotColumn, NDArray positions, NDArray slotIndex, Window window,
            NDArray k, NDArray v, long span) {
        NDIndex at = new NDIndex("{}, :, {}", slotColumn, positions);
        keys[layer].set(at, k);
        values[layer].set(at, v);
        return slotsUpTo(layer, slotIndex, window, span);
    }

    /**
     * The first slot of {@code slots} when they are consecutive and ascending (firstSlot, firstSlot + 1, ...): a
     * step's rows can then read the pool through a view in their own order; -1 otherwise.
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
     * The slots first .. first + width - 1 that a step's rows read through one view (a slice of the pool, no copy),
     * and where each row's slot lies in it: rowInWindow[b] = slot of row b - first; null when that is b itself (the
     * rows are the window, in order: {@link #firstOfRun}). When turns ended or calls are parked between the running
     * ones, the window also holds those slots: their rows are computed with the rest and dropped, which is cheaper
     * than copying every row's cache per layer and step as long as the window stays within a small multiple of the
     * rows ({@link #window}).
     */
    record Window(long first, long width, long[] rowInWindow) {
    }

    /**
     * The widest window a step may read through a view, in slots per row (default {@value #DEFAULT_WINDOW_FACTOR}):
     * 1 = only consecutive slots (any wider spread gathers, as this pool did before windows; tests and benchmarks
     * compare the two).
     */
    void windowFactor(int slotsPerRow) {
        if (slotsPerRow < 1) {
            throw new IllegalArgumentException("a window holds at least 1 slot per row, got " + slotsPerRow);
        }
        this.windowFactor = slotsPerRow;
    }

    /**
     * The window the rows of these slots (distinct, in the batch's order) read through one view: from the lowest
     * slot to the highest, when that spans at most {@link #windowFactor} × rows slots; null when it is wider (the
     * step then gathers) or there are no rows.
     */
    Window window(long[] slots) {
        if (slots.length == 0) {
            return null;
        }
        if (firstOfRun(slots) >= 0) {
            return new Window(slots[0], slots.length, null);
        }
        long lo = Arrays.stream(slots).min().orElseThrow();
        long width = Arrays.stream(slots).max().orElseThrow() - lo + 1;
        if (width > (long) windowFactor * slots.length) {
            return null;
        }
        long[] rowInWindow = new long[slots.length];
        for (int b = 0; b < slots.length; b++) {
            rowInWindow[b] = slots[b] - lo;
        }
        return new Window(lo, width, rowInWindow);
    }

    /**
     * Keys and values over the first span positions: of the window's slots, a slice of the pool (a view: no copy,
     * one native op), or, window null, of the rows' slots gathered by slotIndex. The same numbers for the rows either
     * way; the view saves copying every row's whole cache once per layer and step, which grows with the batch.
     */
    private NDArray[] slotsUpTo(int layer, NDArray slotIndex, Window window, long span) {
        NDIndex rows = window != null ? new NDIndex("{}:{}, :, :{}", window.first(), window.first() + window.width(),
                span) : new NDIndex("{}, :, :{}", slotIndex, span);
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

        /**
         * Moves this sequence out of the pool into a {@link KvCache} of its own with room for at least
         * {@code capacity} positions (it grows by doubling beyond): every layer's keys and values and the position
         * keys are copied once, the slot is closed (free for a newcomer) and the cache returned. For a sequence that
         * outgrows its slot: it goes on with the same numbers, stepping alone.
         */
        public KvCache moveToCacheOfItsOwn(long capacity) {
            if (closed) {
                throw new IllegalStateException("slot " + index + " was evicted or closed");
            }
            KvCache own = new KvCache(parent, keys.length, kvHeads, headDim, type, Math.max(capacity, length));
            try {
                own.reserve(length);
                if (length > 0) {
                    for (int layer = 0; layer < keys.length; layer++) {
                        NDIndex held = new NDIndex("{}, :, :{}", index, length);
                        try (NDArray k = keys[layer].get(held); NDArray v = values[layer].get(held)) {
                            for (NDArray view : own.append(layer, k, v)) {
                                view.close();
                            }
                        }
                    }
                }
                own.advance(positionKeys());
            } catch (RuntimeException e) {
                own.close();
                throw e;
            }
            close();
            return own;
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
