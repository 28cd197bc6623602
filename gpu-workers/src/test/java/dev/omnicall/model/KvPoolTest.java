package dev.omnicall.model;

import dev.omnicall.model.omni.OmniModel;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The pooled decode ({@link LlamaModel#decode} over {@link KvPool} slots: one write, one gather and one batched
 * attention per layer for the whole batch) against the per-sequence reference ({@link LlamaModel#decodeBatch}
 * over one {@link KvCache} each), on the tiny checkpoint's real weights.
 */
class KvPoolTest {
    private static final float TOLERANCE = 1e-4f;
    private final OmniModel model = TinyModels.model();
    private final LlamaModel llm = model.llm();

    /** One sequence of a schedule: its prompt, the step it joins at and how many tokens it decodes. */
    private record Seq(long[] prompt, int joinAt, int steps) {
    }

    /** What every sequence produced: greedy tokens and the logits of each step. */
    private record Trace(Map<Integer, List<Long>> tokens, Map<Integer, List<float[]>> logits) {
    }

    private static List<Seq> schedule(int b, boolean staggered) {
        SplittableRandom r = new SplittableRandom(40 + b);
        List<Seq> seqs = new ArrayList<>();
        for (int i = 0; i < b; i++) {
            int length = 3 + r.nextInt(38); // prompts of 3..40 tokens
            long[] prompt = r.longs(length, 0, 256).toArray();
            prompt[0] = 256;
            seqs.add(new Seq(prompt, staggered ? i : 0, staggered ? 3 + (i * 3) % 5 : 9));
        }
        return seqs;
    }

    /**
     * Greedy decoding of every sequence by the schedule: a sequence joins at its step (prefill into a cache or a
     * slot), decodes in the batch with whoever is running, and leaves when its steps are done (its cache or slot
     * closed, so a later sequence may take the same slot over its stale rows).
     */
    private Trace run(List<Seq> seqs, KvPool pool) {
        Map<Integer, List<Long>> tokens = new HashMap<>();
        Map<Integer, List<float[]>> logits = new HashMap<>();
        Map<Integer, SequenceCache> caches = new HashMap<>();
        Map<Integer, Long> pending = new HashMap<>();
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            for (int step = 0; !allDone(seqs, tokens); step++) {
                for (int i = 0; i < seqs.size(); i++) {
                    Seq s = seqs.get(i);
                    if (s.joinAt() == step) {
                        SequenceCache c = pool == null ? llm.newCache(8) : pool.acquire();
                        assertThat(c).as("a slot for sequence %d", i).isNotNull();
                        LlamaModel.Output out = llm.forward(llm.embed(s.prompt()), c, s.prompt());
                        caches.put(i, c);
                        tokens.put(i, new ArrayList<>());
                        logits.put(i, new ArrayList<>());
                        pending.put(i, out.lastLogits().argMax().getLong());
                    }
                }
                // the running sequences, newest first so the batch order is not the slot order
                List<Integer> running = new ArrayList<>();
                for (int i = seqs.size() - 1; i >= 0; i--) {
                    if (caches.containsKey(i) && tokens.get(i).size() < seqs.get(i).steps()) {
                        running.add(i);
                    }
                }
                if (running.isEmpty()) {
                    continue;
                }
                long[] in = running.stream().mapToLong(pending::get).toArray();
                LlamaModel.Output out;
                if (pool == null) {
                    out = llm.decodeBatch(in, running.stream().map(i -> (KvCache) caches.get(i)).toList());
                } else {
                    out = llm.decode(in, running.stream().map(caches::get).toList());
                }
                for (int j = 0; j < running.size(); j++) {
                    int i = running.get(j);
                    tokens.get(i).add(in[j]);
                    float[] row = out.lastLogits().get(j).toFloatArray();
                    logits.get(i).add(row);
                    pending.put(i, (long) argmax(row));
                    if (tokens.get(i).size() == seqs.get(i).steps()) {
                        caches.remove(i).close();
                    }
                }
            }
        } finally {
            caches.values().forEach(SequenceCache::close);
        }
        return new Trace(tokens, logits);
    }

    private static boolean allDone(List<Seq> seqs, Map<Integer, List<Long>> tokens) {
        for (int i = 0; i < seqs.size(); i++) {
            if (!tokens.containsKey(i) || tokens.get(i).size() < seqs.get(i).steps()) {
                return false;
            }
        }
        return true;
    }

    private void assertSame(Trace pooled, Trace reference, int b) {
        for (int i = 0; i < b; i++) {
            assertThat(pooled.tokens().get(i)).as("tokens of sequence %d", i)
                    .containsExactlyElementsOf(reference.tokens().get(i));
            for (int s = 0; s < reference.logits().get(i).size(); s++) {
                assertClose(pooled.logits().get(i).get(s), reference.logits().get(i).get(s), TOLERANCE);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 3, 8})
    void shouldDecodeAsThePerSequencePathWhenAllSequencesRunTogether(int b) {
        // Given b sequences with prompts of different lengths, all running from the first step
        List<Seq> seqs = schedule(b, false);
        // When they decode 9 greedy tokens through the pool, and through one cache each
        Trace pooled;
        try (KvPool pool = llm.newPool(b, 64)) {
            pooled = run(seqs, pool);
        }
        Trace reference = run(seqs, null);
        // Then every step's logits agree within float tolerance and the greedy tokens are the same
        assertSame(pooled, reference, b);
    }

    @Test
    void shouldDecodeAsThePerSequencePathWhenSequencesJoinAndLeaveMidRun() {
        // Given 8 sequences joining one per step and leaving after 3..7 tokens, at most 5 running at once, in a
        // pool of 5 slots (leavers' slots are taken over by later joiners, stale rows and all)
        List<Seq> seqs = schedule(8, true);
        // When they decode through the pool and through one cache each
        Trace pooled;
        try (KvPool pool = llm.newPool(5, 64)) {
            pooled = run(seqs, pool);
        }
        Trace reference = run(seqs, null);
        // Then each sequence's tokens and logits are the same
        assertSame(pooled, reference, 8);
    }

    @Test
    void shouldDecodeAsThePerSequencePathInFloat16AsOnTheGpu() {
        // Given the tiny checkpoint loaded as float16 (the GPU default: pool, index-put and gather in half precision,
        // scores and mask in float32), 3 sequences joining one per step
        try (OmniModel half = OmniModel.load(TinyModels.checkpointDir(), new ModelOptions("cpu", "float16", 0, null,
                null).withTranscriber(false))) {
            LlamaModel llm16 = half.llm();
            assertThat(llm16.dataType()).isEqualTo(ai.djl.ndarray.types.DataType.FLOAT16);
            long[][] prompts = {{256, 5, 6, 7, 8, 9}, {256, 40, 41}, {256, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}};
            List<SequenceCache> pooled = new ArrayList<>();
            List<KvCache> single = new ArrayList<>();
            try (KvPool pool = llm16.newPool(3, 32)) {
                long[] next = new long[3];
                for (int step = 0; step < 6; step++) {
                    if (step < 3) {
                        KvPool.Slot slot = pool.acquire();
                        KvCache own = llm16.newCache(32);
                        next[step] = llm16.forward(llm16.embed(prompts[step]), slot, prompts[step]).lastLogits()
                                .argMax().getLong();
                        llm16.forward(llm16.embed(prompts[step]), own, prompts[step]);
                        pooled.add(slot);
                        single.add(own);
                    }
                    int n = pooled.size();
                    long[] in = java.util.Arrays.copyOf(next, n);
                    // When they decode pooled and per sequence
                    LlamaModel.Output a = llm16.decode(in, pooled);
                    LlamaModel.Output b = llm16.decodeBatch(in, single);
                    // Then the logits agree within half-precision tolerance (2% of the largest) and so do the tokens
                    float[] fa = a.lastLogits().toFloatArray();
                    float[] fb = b.lastLogits().toFloatArray();
                    float scale = 0;
                    for (float f : fb) {
                        scale = Math.max(scale, Math.abs(f));
                    }
                    assertClose(fa, fb, 0.02f * scale);
                    long[] ta = a.lastLogits().argMax(-1).toLongArray();
                    assertThat(ta).containsExactly(b.lastLogits().argMax(-1).toLongArray());
                    System.arraycopy(ta, 0, next, 0, n);
                }
            } finally {
                pooled.forEach(SequenceCache::close);
                single.forEach(KvCache::close);
            }
        }
    }

    @Test
    void shouldKeepTheOrderGivenWhenPooledAndOwnCachesMix() {
        // Given a batch whose middle row has a cache of its own (as when the pool was full) among pooled rows
        long[][] prompts = {{256, 1, 2, 3}, {256, 9, 8, 7, 6, 5, 4}, {256, 42}};
        long[] next = {11, 22, 33};
        List<float[]> reference = new ArrayList<>();
        for (int i = 0; i < prompts.length; i++) {
            try (KvCache c = llm.newCache(16)) {
                llm.forward(llm.embed(prompts[i]), c, prompts[i]);
                reference.add(llm.decodeBatch(new long[] {next[i]}, List.of(c)).lastLogits().get(0).toFloatArray());
            }
        }
        try (KvPool pool = llm.newPool(2, 16); KvCache own = llm.newCache(16)) {
            List<SequenceCache> caches = List.of(pool.acquire(), own, pool.acquire());
            for (int i = 0; i < prompts.length; i++) {
                llm.forward(llm.embed(prompts[i]), caches.get(i), prompts[i]);
            }
            // When one decode step runs over all three
            LlamaModel.Output out = llm.decode(next, caches);
            // Then each row is that sequence's own result, in the order given, and every cache grew by one
            for (int i = 0; i < prompts.length; i++) {
                assertClose(out.lastLogits().get(i).toFloatArray(), reference.get(i), TOLERANCE);
                assertThat(caches.get(i).length()).isEqualTo(prompts[i].length + 1);
                assertThat(caches.get(i).positionKeys()[prompts[i].length]).isEqualTo(next[i]);
            }
        }
    }

    @Test
    void shouldKeepTheOrderGivenWhenTheRowsComeInAnotherOrderThanTheirSlots() {
        // Given three sequences in slots 0, 1 and 2 of a pool, handed to decode as slots 2, 0, 1 (the turns joined in
        // another order; decode runs them in slot order to read the pool through a view, then restores the order)
        long[][] prompts = {{256, 5, 6}, {256, 1, 2, 3, 4, 5, 6, 7, 8}, {256, 42, 43, 44, 45}};
        long[] next = {7, 17, 27};
        List<float[]> reference = new ArrayList<>();
        for (int i = 0; i < prompts.length; i++) {
            try (KvCache c = llm.newCache(16)) {
                llm.forward(llm.embed(prompts[i]), c, prompts[i]);
                reference.add(llm.decodeBatch(new long[] {next[i]}, List.of(c)).lastLogits().get(0).toFloatArray());
            }
        }
        try (KvPool pool = llm.newPool(3, 16)) {
            KvPool.Slot s0 = pool.acquire();
            KvPool.Slot s1 = pool.acquire();
            KvPool.Slot s2 = pool.acquire();
            List<SequenceCache> caches = List.of(s2, s0, s1);
            for (int i = 0; i < prompts.length; i++) {
                llm.forward(llm.embed(prompts[i]), caches.get(i), prompts[i]);
            }
            // When one decode step runs over all three
            LlamaModel.Output out = llm.decode(next, caches);
            // Then each row is that sequence's own result, in the order given
            for (int i = 0; i < prompts.length; i++) {
                assertClose(out.lastLogits().get(i).toFloatArray(), reference.get(i), TOLERANCE);
                assertThat(caches.get(i).positionKeys()[prompts[i].length]).isEqualTo(next[i]);
            }
        }
    }

    @Test
    void shouldEvictTheSlotKeptLongestWhenANewcomerNeedsOne() {
        try (KvPool pool = llm.newPool(3, 16)) {
            // Given three slots: a and b parked for their calls (a first), c running
            KvPool.Slot a = pool.acquire();
            KvPool.Slot b = pool.acquire();
            KvPool.Slot c = pool.acquire();
            a.park();
            b.park();
            assertThat(pool.running()).isEqualTo(1);
            assertThat(pool.kept()).isEqualTo(2);
            // When two newcomers ask for a slot, then a third
            KvPool.Slot d = pool.acquire();
            KvPool.Slot e = pool.acquire();
            KvPool.Slot f = pool.acquire();
            // Then a (kept longest) goes first, then b; with every slot running there is none
            assertThat(a.isClosed()).isTrue();
            assertThat(b.isClosed()).isTrue();
            assertThat(c.isClosed()).isFalse();
            assertThat(d).isNotNull();
            assertThat(e).isNotNull();
            assertThat(f).isNull();
            assertThat(pool.evictions()).isEqualTo(2);
            assertThatThrownBy(b::resume).isInstanceOf(IllegalStateException.class).hasMessageContaining("evicted");
            // and a closed running slot frees its place
            c.close();
            assertThat(pool.acquire()).isNotNull();
        }
    }

    @Test
    void shouldReadConsecutiveSlotsThroughAViewWithTheSameNumbersAsAGather() {
        long kvHeads = model.config().numKeyValueHeads();
        long headDim = model.config().headDim();
        try (KvPool pool = llm.newPool(5, 8); NDManager m = NDManager.newBaseManager("PyTorch")) {
            // Given slots 1, 2 and 3 of five, new keys and values for them at positions 2, 5 and 0
            long[] slots = {1, 2, 3};
            long[] positions = {2, 5, 0};
            NDArray k = m.randomNormal(new Shape(3, kvHeads, headDim));
            NDArray v = m.randomNormal(new Shape(3, kvHeads, headDim));
            NDArray slotIndex = m.create(slots);
            NDArray at = m.create(positions);
            // When they are written and read back as a run (a view from slot 1) and by a gather
            assertThat(KvPool.firstOfRun(slots)).isEqualTo(1);
            NDArray[] view = pool.writeAndGather(0, slotIndex, pool.window(slots), at, k, v, 6);
            NDArray[] gathered = pool.writeAndGather(0, slotIndex, null, at, k, v, 6);
            // Then both hold the same numbers, and row j holds slot j's new keys and values at its position
            assertThat(view[0].getShape()).isEqualTo(new Shape(3, kvHeads, 6, headDim));
            assertThat(view[0].toFloatArray()).containsExactly(gathered[0].toFloatArray());
            assertThat(view[1].toFloatArray()).containsExactly(gathered[1].toFloatArray());
            for (int j = 0; j < 3; j++) {
                NDIndex written = new NDIndex("{}, :, {}", j, positions[j]);
                assertThat(view[0].get(written).toFloatArray()).containsExactly(k.get(j).toFloatArray());
                assertThat(view[1].get(written).toFloatArray()).containsExactly(v.get(j).toFloatArray());
            }
        }
        // and only consecutive ascending slots make a run
        assertThat(KvPool.firstOfRun(new long[] {4})).isEqualTo(4);
        assertThat(KvPool.firstOfRun(new long[] {1, 3})).isEqualTo(-1);
        assertThat(KvPool.firstOfRun(new long[] {2, 1})).isEqualTo(-1);
        assertThat(KvPool.firstOfRun(new long[0])).isEqualTo(-1);
    }

    /**
     * Six decode steps of the rows in slots {4, 1, 6, 2} (in that order) of an 8-slot pool whose slots 3 and 5 are
     * parked calls and 0 and 7 hold other ended turns, every running slot taken over from a longer ended turn (stale
     * positions past its length): the per-step logits of each row, and afterwards the logits of one step of each
     * parked call resumed alone. windowFactor 1 = the gather path.
     */
    private List<float[]> gappedRun(int windowFactor) {
        SplittableRandom r = new SplittableRandom(77);
        List<float[]> out = new ArrayList<>();
        try (KvPool pool = llm.newPool(8, 48)) {
            pool.windowFactor(windowFactor);
            List<KvPool.Slot> slots = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                KvPool.Slot s = pool.acquire();
                long[] longer = r.longs(30 + i, 0, 256).toArray();
                llm.forward(llm.embed(longer), s, longer);
                slots.add(s);
            }
            int[] running = {4, 1, 6, 2};
            for (int i : running) {
                // the slot's turn ended; a newcomer takes it over its stale positions
                slots.get(i).close();
                KvPool.Slot s = pool.acquire();
                assertThat(s.index()).isEqualTo(i);
                long[] prompt = r.longs(3 + 5 * i, 0, 256).toArray();
                llm.forward(llm.embed(prompt), s, prompt);
                slots.set(i, s);
            }
            slots.get(3).park();
            slots.get(5).park();
            List<SequenceCache> caches = new ArrayList<>();
            for (int i : running) {
                caches.add(slots.get(i));
            }
            long[] tokens = {11, 22, 33, 44};
            for (int step = 0; step < 6; step++) {
                LlamaModel.Output o = llm.decode(tokens, caches);
                for (int j = 0; j < tokens.length; j++) {
                    float[] row = o.lastLogits().get(j).toFloatArray();
                    out.add(row);
                    tokens[j] = argmax(row);
                }
            }
            for (int parked : new int[] {3, 5}) {
                slots.get(parked).resume();
                out.add(llm.decode(new long[] {7}, List.of(slots.get(parked))).lastLogits().get(0).toFloatArray());
            }
        }
        return out;
    }

    @Test
    void shouldDecodeRowsWithParkedSlotsBetweenThroughAWindowExactlyAsThroughAGather() {
        // Given rows in slots 4, 1, 6, 2 with parked calls in 3 and 5: their window 1..6 is 6 slots for 4 rows
        try (KvPool pool = llm.newPool(8, 8)) {
            KvPool.Window w = pool.window(new long[] {4, 1, 6, 2});
            assertThat(w.first()).isEqualTo(1);
            assertThat(w.width()).isEqualTo(6);
            assertThat(w.rowInWindow()).containsExactly(3, 0, 5, 1);
        }
        // When they decode 6 steps reading the pool through that window, and through gathers of their slots
        List<float[]> windowed = gappedRun(KvPool.DEFAULT_WINDOW_FACTOR);
        List<float[]> gathered = gappedRun(1);
        // Then every step's logits of every row are the same bit for bit, and so are the parked calls' next steps
        // (the window wrote nothing into the slots between)
        assertThat(windowed).hasSameSizeAs(gathered);
        for (int i = 0; i < windowed.size(); i++) {
            assertThat(windowed.get(i)).as("logits %d", i).containsExactly(gathered.get(i));
        }
    }

    @Test
    void shouldReadAWindowOfAtMostTwiceTheRowsAndGatherWiderSpreads() {
        try (KvPool pool = llm.newPool(8, 8)) {
            // consecutive slots: the rows are the window, in order
            assertThat(pool.window(new long[] {2, 3, 4})).isEqualTo(new KvPool.Window(2, 3, null));
            // one slot between two rows: 3 slots for 2 rows
            KvPool.Window gap = pool.window(new long[] {3, 1});
            assertThat(gap.first()).isEqualTo(1);
            assertThat(gap.width()).isEqualTo(3);
            assertThat(gap.rowInWindow()).containsExactly(2, 0);
            // 4 slots for 2 rows is the limit, 5 is a gather
            assertThat(pool.window(new long[] {0, 3})).isNotNull();
            assertThat(pool.window(new long[] {0, 4})).isNull();
            assertThat(pool.window(new long[0])).isNull();
            // windows of 1 slot per row are consecutive slots only
            pool.windowFactor(1);
            assertThat(pool.window(new long[] {3, 1})).isNull();
            assertThat(pool.window(new long[] {5, 6})).isNotNull();
            assertThatThrownBy(() -> pool.windowFactor(0)).hasMessageContaining("at least 1 slot per row");
        }
    }

    @Test
    void shouldRefuseAPromptLongerThanASlot() {
        try (KvPool pool = llm.newPool(1, 8)) {
            KvPool.Slot s = pool.acquire();
            long[] prompt = {256, 1, 2, 3, 4, 5, 6, 7, 8};
            assertThatThrownBy(() -> llm.forward(llm.embed(prompt), s, prompt))
                    .isInstanceOf(IllegalStateException.class).hasMessageContaining("holds 8 positions");
        }
    }

    @Test
    void shouldSizeASlotByLayersHeadsAndPositions() {
        try (KvPool pool = llm.newPool(2, 32)) {
            long expected = 2L * model.config().numHiddenLayers() * model.config().numKeyValueHeads()
                    * model.config().headDim() * 32 * llm.dataType().getNumOfBytes();
            assertThat(pool.slotBytes()).isEqualTo(expected).isEqualTo(llm.poolSlotBytes(32));
            assertThat(pool.deviceBytes()).isEqualTo(2 * expected);
        }
    }

    private static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }

    private static void assertClose(float[] a, float[] b, float tol) {
        assertThat(a).hasSameSizeAs(b);
        float worst = 0;
        for (int i = 0; i < a.length; i++) {
            worst = Math.max(worst, Math.abs(a[i] - b[i]));
        }
        assertThat(worst).as("largest difference").isLessThanOrEqualTo(tol);
    }
}
