package dev.omnicall.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;
import dev.omnicall.model.omni.OmniModel;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * A decode step with a newcomer's prompt rows in its own forward ({@link LlamaModel#decodeWithPrompt}) against the slow
 * obvious reference: the same decode step without them ({@link LlamaModel#decode}) and the newcomer's prompt prefilled
 * in one shot ({@link LlamaModel#forward}). Both sides run on twin pools filled the same way; every logit and hidden
 * value within 1e-4 of its array's largest magnitude (float32 GEMMs of B vs B + P rows round differently;
 * measured here: at most 6.1e-7 of the scale), the same greedy tokens. Checked once by breaking it: the prompt rows'
 * causal mask left off (4 of 5 fail), their mask or their rotary positions counted from 0 instead of the cache's
 * length (the 2 cases whose prompt starts past 0 fail).
 */
class FusedPrefillTest {
    private static final double TOLERANCE = 1e-4;
    private final OmniModel model = TinyModels.model();
    private final LlamaModel llm = model.llm();

    /** Twin pools: the same turns in the same slots, one for the reference, one for the fused steps. */
    private final class Twin implements AutoCloseable {
        final KvPool pool;
        final List<SequenceCache> decodeRows = new ArrayList<>();
        final KvPool.Slot newcomer;

        /** Turns with these prompts in slots `slotOfRow` of a pool of `slots`; the newcomer in `newcomerSlot`. */
        Twin(int slots, long[][] prompts, int[] slotOfRow, int newcomerSlot) {
            pool = llm.newPool(slots, 128);
            List<KvPool.Slot> all = new ArrayList<>();
            for (int i = 0; i < slots; i++) {
                all.add(pool.acquire());
            }
            for (int j = 0; j < prompts.length; j++) {
                KvPool.Slot s = all.get(slotOfRow[j]);
                llm.forward(llm.embed(prompts[j]), s, prompts[j]);
                decodeRows.add(s);
            }
            newcomer = all.get(newcomerSlot);
        }

        @Override
        public void close() {
            pool.close();
        }
    }

    private static long[][] prompts(SplittableRandom r, int n) {
        long[][] p = new long[n][];
        for (int j = 0; j < n; j++) {
            p[j] = r.longs(3 + r.nextInt(17), 0, 256).toArray();
        }
        return p;
    }

    /**
     * Decode steps of the running rows with the newcomer's prompt riding along in chunks of these sizes, against the
     * same steps alone and the prompt in one shot; then one step with the newcomer among the rows on both sides (its
     * cache must hold the same keys and values).
     */
    private void assertFusedEqualsReference(int slots, int[] slotOfRow, int newcomerSlot, int[] chunks, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        long[][] prompts = prompts(r, slotOfRow.length);
        long[] newcomerPrompt = r.longs(Arrays.stream(chunks).sum(), 0, 256).toArray();
        try (Twin ref = new Twin(slots, prompts, slotOfRow, newcomerSlot);
                Twin fused = new Twin(slots, prompts, slotOfRow, newcomerSlot);
                NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            // Given the newcomer's prompt prefilled in one shot (the reference)
            LlamaModel.Output oneShot = llm.forward(llm.embed(newcomerPrompt), ref.newcomer, newcomerPrompt);
            int at = 0;
            LlamaModel.Output lastChunk = null;
            List<NDArray> chunkHidden = new ArrayList<>();
            for (int c : chunks) {
                long[] tokens = r.longs(slotOfRow.length, 0, 256).toArray();
                long[] keys = Arrays.copyOfRange(newcomerPrompt, at, at + c);
                // When a decode step carries the next chunk of the prompt
                LlamaModel.Output alone = llm.decode(tokens, ref.decodeRows);
                LlamaModel.Fused both = llm.decodeWithPrompt(tokens, fused.decodeRows, llm.embed(keys), fused.newcomer,
                        keys);
                // Then the decode rows are as without it
                assertClose(both.decode().lastLogits(), alone.lastLogits(), "decode logits, chunk at " + at);
                assertClose(both.decode().hidden(), alone.hidden(), "decode hidden states, chunk at " + at);
                assertThat(both.decode().lastLogits().argMax(-1).toLongArray())
                        .containsExactly(alone.lastLogits().argMax(-1).toLongArray());
                chunkHidden.add(both.prompt().hidden());
                lastChunk = both.prompt();
                at += c;
            }
            // and the newcomer's prompt, in chunks, is the one-shot prefill: every row's state, the last row's logits
            assertThat(fused.newcomer.length()).isEqualTo(newcomerPrompt.length);
            assertThat(fused.newcomer.positionKeys()).containsExactly(newcomerPrompt);
            assertClose(chunkHidden.size() == 1 ? chunkHidden.get(0) : concat(chunkHidden), oneShot.hidden(),
                    "the newcomer's hidden states");
            assertClose(lastChunk.lastLogits(), oneShot.lastLogits(), "the newcomer's last logits");
            assertThat(lastChunk.lastLogits().argMax().getLong()).isEqualTo(oneShot.lastLogits().argMax().getLong());
            // and its cache holds the same: a step with the newcomer among the rows agrees on both sides
            long[] tokens = r.longs(slotOfRow.length + 1, 0, 256).toArray();
            List<SequenceCache> refRows = new ArrayList<>(ref.decodeRows);
            refRows.add(ref.newcomer);
            List<SequenceCache> fusedRows = new ArrayList<>(fused.decodeRows);
            fusedRows.add(fused.newcomer);
            assertClose(llm.decode(tokens, fusedRows).lastLogits(), llm.decode(tokens, refRows).lastLogits(),
                    "a step with the newcomer");
        }
    }

    private static NDArray concat(List<NDArray> parts) {
        return ai.djl.ndarray.NDArrays.concat(new ai.djl.ndarray.NDList(parts), 0);
    }

    private static void assertClose(NDArray actual, NDArray expected, String what) {
        assertThat(actual.getShape()).as("%s shape", what).isEqualTo(expected.getShape());
        Closeness.assertWithinScale(actual.toType(ai.djl.ndarray.types.DataType.FLOAT32, false).toFloatArray(),
                expected.toType(ai.djl.ndarray.types.DataType.FLOAT32, false).toFloatArray(), TOLERANCE, what);
    }

    @Test
    void shouldDecodeAsWithoutThePromptAndPrefillAsInOneShotWhenRowsAreConsecutiveSlots() {
        // 3 turns in slots 0..2, the newcomer in slot 3, its 23 rows in chunks of 8, 1, 14
        assertFusedEqualsReference(4, new int[] {0, 1, 2}, 3, new int[] {8, 1, 14}, 1);
    }

    @Test
    void shouldDecodeAsWithoutThePromptWhenTheNewcomersSlotLiesInTheRowsWindow() {
        // the newcomer's slot (2) between the decode rows' (0, 1, 3, read through one window): its rows in that window
        // are computed and dropped while its prompt rows are written to it in the same layer
        assertFusedEqualsReference(4, new int[] {3, 0, 1}, 2, new int[] {5, 9}, 2);
    }

    @Test
    void shouldDecodeAsWithoutThePromptWhenTheRowsAreGatheredAndThePromptIsOneChunk() {
        // rows spread wider than a window (slots 0 and 7 of 8: a gather), the whole prompt in one chunk of 31
        assertFusedEqualsReference(8, new int[] {7, 0}, 4, new int[] {31}, 3);
    }

    @Test
    void shouldCarryAPromptIntoACacheOfItsOwnAlongsideRowsWithCachesOfTheirOwn() {
        SplittableRandom r = new SplittableRandom(4);
        long[][] prompts = prompts(r, 2);
        long[] newcomerPrompt = r.longs(12, 0, 256).toArray();
        List<KvCache> refRows = new ArrayList<>();
        List<KvCache> fusedRows = new ArrayList<>();
        try (KvCache refNew = llm.newCache(4); KvCache fusedNew = llm.newCache(4); NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            for (long[] p : prompts) {
                refRows.add(llm.newCache(32));
                fusedRows.add(llm.newCache(32));
                llm.forward(llm.embed(p), refRows.get(refRows.size() - 1), p);
                llm.forward(llm.embed(p), fusedRows.get(fusedRows.size() - 1), p);
            }
            // Given the pool off (the per-sequence reference path): every cache one of its own
            LlamaModel.Output oneShot = llm.forward(llm.embed(newcomerPrompt), refNew, newcomerPrompt);
            long[] tokens = {5, 77};
            // When one step carries the whole prompt
            LlamaModel.Output alone = llm.decodeBatch(tokens, refRows);
            LlamaModel.Fused both = llm.decodeWithPrompt(tokens, fusedRows, llm.embed(newcomerPrompt), fusedNew,
                    newcomerPrompt);
            // Then both agree with the references
            assertClose(both.decode().lastLogits(), alone.lastLogits(), "decode logits");
            assertClose(both.prompt().lastLogits(), oneShot.lastLogits(), "the newcomer's logits");
            assertClose(both.prompt().hidden(), oneShot.hidden(), "the newcomer's hidden states");
        } finally {
            refRows.forEach(KvCache::close);
            fusedRows.forEach(KvCache::close);
        }
    }

    @Test
    void shouldRefuseAPromptIntoADecodeRowsCacheOrWithoutDecodeRows() {
        try (KvPool pool = llm.newPool(2, 32); NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            KvPool.Slot a = pool.acquire();
            llm.forward(llm.embed(new long[] {1, 2}), a, new long[] {1, 2});
            long[] keys = {3, 4};
            assertThatThrownBy(() -> llm.decodeWithPrompt(new long[] {9}, List.of(a), llm.embed(keys), a, keys))
                    .hasMessageContaining("one of the decode rows' caches");
            assertThatThrownBy(() -> llm.decodeWithPrompt(new long[0], List.of(), llm.embed(keys), pool.acquire(), keys))
                    .hasMessageContaining("at least 1 decode row");
            assertThatThrownBy(() -> llm.decodeWithPrompt(new long[] {9}, List.of(a), llm.embed(keys), pool.acquire(),
                    new long[] {3})).hasMessageContaining("1 position keys for 2 prompt rows");
            assertThat(a.length()).isEqualTo(2);
        }
    }
}
