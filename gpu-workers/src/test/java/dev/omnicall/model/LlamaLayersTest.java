package dev.omnicall.model;

import dev.omnicall.model.config.RopeSettings;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The public face a model family gets of the shared decoder layers, on the tiny LLM's real layers (4 heads over 2 KV
 * heads, llama3 RoPE): each fast path against the slow obvious one. Rows appended in pieces == the whole sequence
 * without a cache; T rows for each of several pool slots in one pass == each sequence alone with a cache of its own.
 */
class LlamaLayersTest {
    private static final float TOLERANCE = 1e-4f;
    private final LlamaLayers layers = TinyModels.model().llm().decoder;
    private final NDManager manager = TinyModels.model().manager();
    private final int dim = layers.spec().dim();

    private NDArray rows(int count, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] v = new float[count * dim];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return manager.create(v, new Shape(count, dim));
    }

    @Test
    void shouldGiveRowsAppendedInPiecesTheStatesOfTheWholeSequenceWithoutACache() {
        // Given 12 rows
        NDArray x = rows(12, 1);
        // When run whole without a cache, and as 5 + 7 rows appended to a cache
        NDArray whole = layers.forwardUncached(x);
        try (KvCache cache = layers.newCache(4)) {
            NDArray first = layers.forward(x.get(new NDIndex(":5")), cache, new long[] {1, 2, 3, 4, 5});
            NDArray rest = layers.forward(x.get(new NDIndex("5:")), cache, new long[7]);
            // Then the same states, and the cache holds 12 positions with their keys
            assertClose(first.concat(rest, 0), whole);
            assertThat(cache.length()).isEqualTo(12);
            assertThat(cache.positionKeys()).startsWith(1, 2, 3, 4, 5).hasSize(12);
        }
    }

    @Test
    void shouldGiveEveryPooledSequenceTheStatesItGetsAloneWhateverItsLength() {
        // Given three sequences with 0, 4 and 9 rows cached, each in a pool slot and in a cache of its own
        int[] cached = {0, 4, 9};
        long t = 3;
        try (KvPool pool = layers.newPool(4, 16)) {
            List<KvPool.Slot> slots = new ArrayList<>();
            List<KvCache> alone = new ArrayList<>();
            for (int j = 0; j < cached.length; j++) {
                KvPool.Slot slot = pool.acquire();
                KvCache cache = layers.newCache(16);
                if (cached[j] > 0) {
                    NDArray prefix = rows(cached[j], 10 + j);
                    layers.forward(prefix, slot, new long[cached[j]]);
                    layers.forward(prefix, cache, new long[cached[j]]);
                }
                slots.add(slot);
                alone.add(cache);
            }
            // When T=3 new rows of each run in one pooled pass, and each sequence's rows alone against its own cache
            NDList inputs = new NDList();
            for (int j = 0; j < cached.length; j++) {
                inputs.add(rows((int) t, 20 + j));
            }
            NDArray pooled = layers.forwardPooled(NDArrays.concat(inputs, 0), slots, t);
            // Then each sequence's states are the same and every slot holds T more positions
            for (int j = 0; j < cached.length; j++) {
                NDArray own = layers.forward(inputs.get(j), alone.get(j), new long[(int) t]);
                assertClose(pooled.get(new NDIndex("{}:{}", j * t, (j + 1) * t)), own);
                assertThat(slots.get(j).length()).isEqualTo(cached[j] + t);
            }
            alone.forEach(KvCache::close);
        }
    }

    /**
     * T=3 rows for each of the slots 3, 0 and 4 of a 5-slot pool (slot 1 holds another sequence, slot 2 an ended
     * one; slots 0 and 4 were taken over from longer sequences), two passes: the states of both passes.
     */
    private float[][] gappedPasses(int windowFactor) {
        int[] cached = {4, 0, 6};
        long t = 3;
        try (KvPool pool = layers.newPool(5, 24)) {
            pool.windowFactor(windowFactor);
            List<KvPool.Slot> all = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
                KvPool.Slot s = pool.acquire();
                layers.forward(rows(12, 40 + i), s, new long[12]);
                all.add(s);
            }
            List<KvPool.Slot> slots = new ArrayList<>();
            int[] at = {3, 0, 4};
            for (int j = 0; j < at.length; j++) {
                all.get(at[j]).close();
                KvPool.Slot s = pool.acquire();
                assertThat(s.index()).isEqualTo(at[j]);
                if (cached[j] > 0) {
                    layers.forward(rows(cached[j], 50 + j), s, new long[cached[j]]);
                }
                slots.add(s);
            }
            all.get(2).close();
            float[][] out = new float[2][];
            for (int pass = 0; pass < 2; pass++) {
                out[pass] = layers.forwardPooled(rows((int) (3 * t), 60 + pass), slots, t).toFloatArray();
            }
            return out;
        }
    }

    @Test
    void shouldGiveSlotsWithOthersBetweenThemTheSameStatesThroughAWindowAsThroughAGather() {
        // Given slots 3, 0 and 4 running, a live sequence in slot 1 and an ended one in slot 2 (window 0..4: 5 slots
        // for 3 sequences)
        // When two pooled passes of 3 rows each run reading the window, and gathering the three slots
        float[][] windowed = gappedPasses(KvPool.DEFAULT_WINDOW_FACTOR);
        float[][] gathered = gappedPasses(1);
        // Then both passes give the same states bit for bit
        assertThat(windowed[0]).containsExactly(gathered[0]);
        assertThat(windowed[1]).containsExactly(gathered[1]);
    }

    @Test
    void shouldRefuseWhatItCannotRunNamingWhy() {
        try (KvPool one = layers.newPool(1, 8); KvPool other = layers.newPool(1, 8)) {
            List<KvPool.Slot> mixed = List.of(one.acquire(), other.acquire());
            assertThatThrownBy(() -> layers.forwardPooled(rows(2, 3), mixed, 1)).hasMessageContaining("another pool");
            assertThatThrownBy(() -> layers.forwardPooled(rows(1, 3), List.of(), 1)).hasMessageContaining(">= 1 sequence");
            // a slot too short for the rows: the pool says how many it holds
            assertThatThrownBy(() -> layers.forwardPooled(rows(9, 3), List.of(mixed.get(0)), 9))
                    .hasMessageContaining("holds 8 positions");
        }
        try (KvCache cache = layers.newCache(4)) {
            assertThatThrownBy(() -> layers.forward(rows(3, 4), cache, new long[2])).hasMessageContaining("2 position keys for 3 rows");
        }
        RopeSettings rope = layers.spec().rope();
        assertThatThrownBy(() -> new LlamaLayers.Spec("p.", 2, 64, 4, 3, 128, 1e-5, rope, false))
                .hasMessageContaining("heads 4 is not a multiple of kv heads 3");
        assertThatThrownBy(() -> new LlamaLayers.Spec("p.", 2, 60, 4, 4, 128, 1e-5, rope, false))
                .hasMessageContaining("head dim 15 must be even");
    }

    private static void assertClose(NDArray actual, NDArray expected) {
        float[] a = actual.toFloatArray();
        float[] e = expected.toFloatArray();
        assertThat(a).hasSameSizeAs(e);
        float worst = 0;
        for (int i = 0; i < a.length; i++) {
            worst = Math.max(worst, Math.abs(a[i] - e[i]));
        }
        assertThat(worst).as("max abs difference").isLessThanOrEqualTo(TOLERANCE);
    }
}
