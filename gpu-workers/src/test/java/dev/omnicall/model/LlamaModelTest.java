package dev.omnicall.model;

import dev.omnicall.model.omni.OmniModel;
import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class LlamaModelTest {
    private final OmniModel model = TinyModels.model();
    private final LlamaModel llm = model.llm();

    @Test
    void shouldMatchFullRecomputeWhenDecodingIncrementally() {
        // Given a prompt of 12 tokens
        long[] prompt = {256, 258, 10, 20, 30, 40, 50, 259, 60, 70, 80, 90};
        try (NDManager scratch = model.manager().newSubManager(); KvCache cache = llm.newCache(8)) {
            // When decoding 10 tokens greedily with the cache (starting small forces buffer growth)
            LlamaModel.Output out = llm.forward(llm.embed(prompt), cache, prompt);
            List<Long> sequence = new ArrayList<>();
            for (long p : prompt) {
                sequence.add(p);
            }
            List<float[]> incremental = new ArrayList<>();
            long next = out.lastLogits().argMax().getLong();
            incremental.add(out.lastLogits().toFloatArray());
            for (int step = 0; step < 10; step++) {
                sequence.add(next);
                LlamaModel.Output o = llm.decodeBatch(new long[] {next}, List.of(cache));
                incremental.add(o.lastLogits().get(0).toFloatArray());
                next = o.lastLogits().get(0).argMax().getLong();
            }
            // Then a fresh full forward over each prefix gives the same logits and the same greedy tokens
            for (int step = 0; step <= 10; step++) {
                long[] prefix = sequence.subList(0, prompt.length + step).stream().mapToLong(Long::longValue).toArray();
                try (KvCache fresh = llm.newCache(prefix.length)) {
                    float[] full = llm.forward(llm.embed(prefix), fresh, prefix).lastLogits().toFloatArray();
                    assertClose(incremental.get(step), full, 1e-4f);
                    assertThat(argmax(incremental.get(step))).isEqualTo(argmax(full));
                }
            }
            assertThat(cache.length()).isEqualTo(prompt.length + 10);
        }
    }

    @Test
    void shouldGiveEachSequenceItsOwnResultWhenDecodingInOneBatch() {
        // Given three sequences of different lengths, each prefilled into its own cache
        long[][] prompts = {{256, 1, 2, 3}, {256, 9, 8, 7, 6, 5, 4}, {256, 42}};
        List<KvCache> batched = new ArrayList<>();
        List<KvCache> single = new ArrayList<>();
        try {
            for (long[] p : prompts) {
                KvCache a = llm.newCache(16);
                KvCache b = llm.newCache(16);
                llm.forward(llm.embed(p), a, p);
                llm.forward(llm.embed(p), b, p);
                batched.add(a);
                single.add(b);
            }
            long[] tokens = {11, 22, 33};
            // When one batched decode step runs for all three
            LlamaModel.Output together = llm.decodeBatch(tokens, batched);
            // Then each row equals decoding that sequence alone
            for (int i = 0; i < prompts.length; i++) {
                LlamaModel.Output alone = llm.decodeBatch(new long[] {tokens[i]}, List.of(single.get(i)));
                assertClose(together.lastLogits().get(i).toFloatArray(), alone.lastLogits().get(0).toFloatArray(),
                        1e-4f);
                assertClose(together.hidden().get(i).toFloatArray(), alone.hidden().get(0).toFloatArray(), 1e-4f);
            }
        } finally {
            batched.forEach(KvCache::close);
            single.forEach(KvCache::close);
        }
    }

    @Test
    void shouldReturnNormedHiddenStatesForEveryPromptRow() {
        long[] prompt = {256, 5, 6, 7};
        try (KvCache cache = llm.newCache(8)) {
            LlamaModel.Output out = llm.forward(llm.embed(prompt), cache, prompt);
            assertThat(out.hidden().getShape().getShape()).containsExactly(4, model.config().hiddenSize());
            NDArray last = out.hidden().get(new NDIndex("-1"));
            assertThat(last.getShape().getShape()).containsExactly(model.config().hiddenSize());
            assertThat(cache.positionKeys()).containsExactly(prompt);
        }
    }

    static void assertClose(float[] actual, float[] expected, float tolerance) {
        assertThat(actual).hasSameSizeAs(expected);
        float worst = 0;
        for (int i = 0; i < actual.length; i++) {
            worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
        }
        assertThat(worst).as("max abs difference").isLessThanOrEqualTo(tolerance);
    }

    static int argmax(float[] x) {
        int best = 0;
        for (int i = 1; i < x.length; i++) {
            if (x[i] > x[best]) {
                best = i;
            }
        }
        return best;
    }
}
