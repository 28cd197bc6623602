package dev.omnicall.model.omni2;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.omnicall.model.KvCache;
import dev.omnicall.model.LlamaModel;
import dev.omnicall.model.io.CheckpointException;
import dev.omnicall.model.io.SafeTensorsFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The TTS LM with its own cache across writes against the reference's way (the whole context re-run for every
 * written token), the read/write schedule, token choice, and loading errors; tiny random weights in the
 * published names (real DJL tensors on CPU, float32).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class TtsLanguageModelTest {
    private NDManager manager;
    private Path dir;
    private TtsLanguageModel tts;

    @BeforeAll
    void load() throws Exception {
        manager = NDManager.newBaseManager();
        dir = Files.createTempDirectory("tts-lm");
        Path file = TinyTts.weights(5, false).writeSafetensors(dir.resolve("tts.safetensors"));
        try (SafeTensorsFile src = SafeTensorsFile.open(file)) {
            tts = TtsLanguageModel.load(src, manager, DataType.FLOAT32, TinyTts.config(true), TinyTts.LLM_HIDDEN,
                    TinyTts.vocabulary());
        }
    }

    @AfterAll
    void close() {
        manager.close();
    }

    /** A reply's text: LLM states [n, H] and random text ids (0..39). */
    private record Text(float[] states, long[] tokens) {
        int length() {
            return tokens.length;
        }
    }

    private static Text text(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        long[] tokens = new long[n];
        for (int i = 0; i < n; i++) {
            tokens[i] = r.nextInt(40);
        }
        return new Text(TinyTts.gaussian(r, n * TinyTts.LLM_HIDDEN, 1.0), tokens);
    }

    private NDArray state(Text t, int i) {
        int h = TinyTts.LLM_HIDDEN;
        return manager.create(Arrays.copyOfRange(t.states(), i * h, (i + 1) * h), new Shape(h));
    }

    private List<TtsStream.Write> runStream(Text t, TtsSchedule schedule, TtsSampling sampling,
            List<Long> contextOut) {
        List<TtsStream.Write> writes = new ArrayList<>();
        try (TtsStream stream = tts.newStream(schedule, sampling)) {
            for (int i = 0; i < t.length(); i++) {
                try (NDArray s = state(t, i)) {
                    TtsStream.Write w = stream.accept(s, t.tokens()[i], i == t.length() - 1);
                    if (w.wrote()) {
                        writes.add(w);
                    }
                }
            }
            assertThat(stream.isFinished()).isTrue();
            if (contextOut != null) {
                contextOut.addAll(stream.contextKeys());
            }
        }
        return writes;
    }

    /** One write of the reference: its units and whether it wrote the end token. */
    private record RefWrite(int textTokens, List<Integer> units, boolean ended) {
    }

    /**
     * LLaMA-Omni2's generate_units loop as the reference runs it, slow and obvious: after every R tokens (and at
     * the end, with {@code <sep>}) fuse the new pairs, then for every token to write re-run the WHOLE context from
     * position 0 in a fresh cache, take the full LM head's logits, mask every id but units + end, take the first
     * maximum (greedy) or draw from the unmasked ids with the stream's sampler and seed; append its embedding.
     */
    private List<RefWrite> fromScratch(Text t, int r, int w, int cap, TtsSampling sampling, List<Long> contextOut) {
        SplittableRandom random = new SplittableRandom(sampling.isGreedy() ? 0 : sampling.seed());
        long[] candidates = tts.candidates();
        TtsVocabulary v = tts.vocabulary();
        LlamaModel lm = tts.lm();
        List<RefWrite> writes = new ArrayList<>();
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            NDList context = new NDList();
            List<Long> keys = new ArrayList<>();
            int from = 0;
            for (int i = 0; i < t.length(); i++) {
                boolean last = i == t.length() - 1;
                if ((i + 1) % r != 0 && !last) {
                    continue;
                }
                NDList states = new NDList();
                for (int j = from; j <= i; j++) {
                    states.add(state(t, j));
                }
                long[] ids = Arrays.copyOfRange(t.tokens(), from, i + 1);
                context.add(tts.fuse(NDArrays.stack(states), ids));
                for (long id : ids) {
                    keys.add(TtsStream.fusedKey(id));
                }
                if (last) {
                    context.add(lm.embed(new long[] {v.sepId()}));
                    keys.add((long) v.sepId());
                }
                from = i + 1;
                List<Integer> units = new ArrayList<>();
                boolean ended = false;
                for (int n = 0; n < (last ? cap : w); n++) {
                    NDArray all = NDArrays.concat(context, 0);
                    float[] logits;
                    try (KvCache fresh = lm.newCache(all.getShape().get(0))) {
                        long[] k = keys.stream().mapToLong(Long::longValue).toArray();
                        logits = lm.forward(all, fresh, k).lastLogits().toFloatArray();
                    }
                    long id;
                    if (sampling.isGreedy()) {
                        id = restrictedArgmax(logits, v);
                    } else {
                        float[] allowed = new float[candidates.length];
                        for (int k = 0; k < candidates.length; k++) {
                            allowed[k] = logits[(int) candidates[k]];
                        }
                        try (NDArray a = manager.create(allowed)) {
                            id = tts.pick(a, sampling, random);
                        }
                    }
                    context.add(lm.embed(new long[] {id}));
                    keys.add(id);
                    if (id == v.endId()) {
                        ended = true;
                        break;
                    }
                    units.add((int) (id - v.unitBase()));
                }
                writes.add(new RefWrite(i + 1, units, ended));
            }
            contextOut.addAll(keys);
        }
        return writes;
    }

    private static long restrictedArgmax(float[] logits, TtsVocabulary v) {
        long best = -1;
        for (int id = 0; id < logits.length; id++) {
            boolean allowed = v.isUnit(id) || id == v.endId();
            if (allowed && (best < 0 || logits[id] > logits[(int) best])) {
                best = id;
            }
        }
        return best;
    }

    @Test
    void shouldWriteTheSameUnitsAsReRunningTheWholeContextForEveryToken() throws Exception {
        // R, W, text length, final cap, sampling seed (0: greedy)
        int[][] cases = {{3, 10, 8, 40, 0}, {3, 10, 9, 40, 0}, {2, 4, 7, 40, 0}, {1, 1, 5, 40, 0},
            {3, 10, 8, 40, 7}, {3, 10, 6, 40, 8}};
        int[] ends = new int[2];
        for (int[] c : cases) {
            compareWithFromScratch(c, ends);
        }
        // the weights make the end token win now and then mid-reply (appended; writing goes on at the next point)
        assertThat(ends[0]).isPositive();
        // the same weights with only 3 units to choose from, so that a final write ends before its cap
        TtsLanguageModel full = tts;
        try (NDManager m = manager.newSubManager();
                SafeTensorsFile src = SafeTensorsFile.open(dir.resolve("tts.safetensors"))) {
            tts = TtsLanguageModel.load(src, m, DataType.FLOAT32, TinyTts.config(true), TinyTts.LLM_HIDDEN,
                    new TtsVocabulary(62, 3, 61, TinyTts.END));
            int[][] fewUnits = {{3, 10, 7, 40, 0}, {3, 10, 7, 40, 5}, {2, 4, 6, 40, 6}, {3, 10, 4, 40, 7}};
            for (int[] c : fewUnits) {
                compareWithFromScratch(c, ends);
            }
        } finally {
            tts = full;
        }
        assertThat(ends[1]).as("final writes that ended before the cap").isPositive();
    }

    /** One case {R, W, text length, final cap, seed or 0}; counts mid-reply ends in ends[0], final ones in ends[1]. */
    private void compareWithFromScratch(int[] c, int[] ends) {
        // Given a reply's text, the schedule (R, W), the final cap and greedy or seeded sampling
        Text t = text(c[2], 100 + c[2]);
        TtsSchedule schedule = new TtsSchedule(c[0], c[1], c[3]);
        TtsSampling sampling = c[4] == 0 ? TtsSampling.greedy() : TtsSampling.sampled(c[4], 1.0);
        // When the incremental stream and the from-scratch loop both voice it
        List<Long> incrementalContext = new ArrayList<>();
        List<TtsStream.Write> incremental = runStream(t, schedule, sampling, incrementalContext);
        List<Long> referenceContext = new ArrayList<>();
        List<RefWrite> reference = fromScratch(t, c[0], c[1], c[3], sampling, referenceContext);
        // Then every write has the same units and end, and the contexts are the same rows in the same order
        assertThat(incremental).hasSameSizeAs(reference);
        for (int i = 0; i < reference.size(); i++) {
            TtsStream.Write a = incremental.get(i);
            RefWrite b = reference.get(i);
            assertThat(a.textTokens()).as("write %d of %s", i, Arrays.toString(c)).isEqualTo(b.textTokens());
            assertThat(a.units()).as("write %d of %s", i, Arrays.toString(c))
                    .containsExactly(b.units().stream().mapToInt(Integer::intValue).toArray());
            assertThat(a.ended()).isEqualTo(b.ended());
            ends[a.sep() ? 1 : 0] += a.ended() ? 1 : 0;
        }
        assertThat(incrementalContext).containsExactlyElementsOf(referenceContext);
        System.out.printf("units %d, R %d W %d text %d cap %d seed %d: units per write %s%n",
                tts.vocabulary().unitCount(), c[0], c[1], c[2], c[3], c[4],
                incremental.stream().map(w -> w.units().length + (w.ended() ? "+end" : "")).toList());
    }

    @Test
    void shouldWriteAfterEveryThirdTokenAndFlushWithSepWhenTheTextEnds() {
        // Given the published schedule R = 3, W = 10 (final cap 1024)
        TtsSchedule s = TtsSchedule.published();
        // Then for a 7-token text: writes of 10 after tokens 3 and 6, the last pair + <sep> up to 1024 after 7
        assertThat(plan(s, 7)).containsExactly("3:3/10", "6:3/10", "7:1+sep/1024");
        // a text ending on a multiple of 3 fuses 3 pairs with <sep> in one final write (no W-write before it)
        assertThat(plan(s, 6)).containsExactly("3:3/10", "6:3+sep/1024");
        assertThat(plan(s, 1)).containsExactly("1:1+sep/1024");
        assertThat(plan(s, 11)).containsExactly("3:3/10", "6:3/10", "9:3/10", "11:2+sep/1024");
        assertThat(TtsSchedule.parseStreamParams("(3,10)", 1024)).isEqualTo(s);
        assertThat(TtsSchedule.parseStreamParams(null, 1024)).isEqualTo(new TtsSchedule(1, 1, 1024));
        assertThatThrownBy(() -> TtsSchedule.parseStreamParams("3;10", 1024)).hasMessageContaining("(R,W)");
    }

    private static List<String> plan(TtsSchedule s, int length) {
        List<String> out = new ArrayList<>();
        int pending = 0;
        for (int n = 1; n <= length; n++) {
            pending++;
            TtsSchedule.Write w = s.at(n, pending, n == length);
            if (w != null) {
                out.add(n + ":" + w.pairs() + (w.sep() ? "+sep" : "") + "/" + w.maxTokens());
                pending = 0;
            }
        }
        return out;
    }

    @Test
    void shouldAppendPairsWrittenTokensAndSepInTheReferenceOrder() {
        // Given an 8-token text under R = 3, W = 10 and a final cap of 25
        Text t = text(8, 77);
        List<Long> context = new ArrayList<>();
        // When the stream voices it
        List<TtsStream.Write> writes = runStream(t, new TtsSchedule(3, 10, 25), TtsSampling.greedy(), context);
        // Then it wrote after tokens 3 and 6 (10 tokens each unless the end token came first) and after token 8
        assertThat(writes).extracting(TtsStream.Write::textTokens).containsExactly(3, 6, 8);
        assertThat(writes).extracting(TtsStream.Write::pairs).containsExactly(3, 3, 2);
        assertThat(writes).extracting(TtsStream.Write::sep).containsExactly(false, false, true);
        for (TtsStream.Write w : writes) {
            int tokens = w.units().length + (w.ended() ? 1 : 0);
            int max = w.sep() ? 25 : 10;
            assertThat(tokens).isLessThanOrEqualTo(max);
            if (!w.ended()) {
                assertThat(tokens).isEqualTo(max);
            }
            assertThat(w.capped()).isEqualTo(w.sep() && !w.ended());
        }
        // and the context is: 3 fused rows, write 1, 3 fused rows, write 2, 2 fused rows, <sep>, write 3
        TtsVocabulary v = tts.vocabulary();
        List<Long> expected = new ArrayList<>();
        int[][] spans = {{0, 3}, {3, 6}, {6, 8}};
        for (int i = 0; i < 3; i++) {
            for (int j = spans[i][0]; j < spans[i][1]; j++) {
                expected.add(TtsStream.fusedKey(t.tokens()[j]));
            }
            if (i == 2) {
                expected.add((long) v.sepId());
            }
            for (int u : writes.get(i).units()) {
                expected.add((long) v.unitBase() + u);
            }
            if (writes.get(i).ended()) {
                expected.add((long) v.endId());
            }
        }
        assertThat(context).containsExactlyElementsOf(expected);
    }

    @Test
    void shouldSampleOnlyUnitsAndEndAndRepeatForTheSameSeed() {
        // Given one text sampled twice with seed 11 and once with seed 12 (temperature 1, as the reference)
        Text t = text(9, 5);
        TtsSchedule s = new TtsSchedule(3, 10, 30);
        List<Long> a = new ArrayList<>();
        List<Long> b = new ArrayList<>();
        List<Long> c = new ArrayList<>();
        runStream(t, s, TtsSampling.sampled(11, 1.0), a);
        runStream(t, s, TtsSampling.sampled(11, 1.0), b);
        runStream(t, s, TtsSampling.sampled(12, 1.0), c);
        // Then the same seed gives the same context, another seed another one, and every written id is a unit or end
        assertThat(a).isEqualTo(b);
        assertThat(a).isNotEqualTo(c);
        TtsVocabulary v = tts.vocabulary();
        assertThat(a.stream().filter(k -> k >= 0 && k != v.sepId()))
                .allMatch(k -> v.isUnit(k) || k == v.endId());
    }

    @Test
    void shouldScoreOnlyUnitsAndEndAndPreferTheLowerIdOnATie() {
        TtsVocabulary v = tts.vocabulary();
        long[] candidates = tts.candidates();
        // the candidates are the end id and every unit id, ascending
        assertThat(candidates).hasSize(TinyTts.UNITS + 1).startsWith(v.endId()).isSorted();
        try (NDManager m = manager.newSubManager()) {
            // the candidates' logits equal those entries of the full LM head's logits
            NDArray state = m.randomNormal(new Shape(TinyTts.DIM));
            float[] fast = tts.candidateLogits(state).toFloatArray();
            float[] full = state.matMul(m.create(TinyTts.weights(5, true).values
                    .get("speech_generator.model.lm_head.weight"), new Shape(TinyTts.VOCAB, TinyTts.DIM)).transpose())
                    .toFloatArray();
            for (int i = 0; i < candidates.length; i++) {
                assertThat(fast[i]).isCloseTo(full[(int) candidates[i]], org.assertj.core.data.Offset.offset(1e-5f));
            }
            // a tie between end and unit 2: the lower id (end) wins, as a masked argmax over the vocabulary would
            float[] logits = new float[candidates.length];
            Arrays.fill(logits, -5f);
            logits[0] = 3f;
            logits[3] = 3f;
            assertThat(tts.pick(m.create(logits), TtsSampling.greedy(), null)).isEqualTo(v.endId());
            logits[3] = 3.5f;
            assertThat(tts.pick(m.create(logits), TtsSampling.greedy(), null)).isEqualTo(v.unitBase() + 2);
        }
    }

    @Test
    void shouldLoadTiedWeightsWithOrWithoutAStoredLmHead() throws Exception {
        // Given the same weights once with the tied lm_head stored and once without it
        Path with = TinyTts.weights(5, true).writeSafetensors(dir.resolve("with-head.safetensors"));
        Text t = text(5, 3);
        List<Long> expected = new ArrayList<>();
        runStream(t, new TtsSchedule(3, 10, 20), TtsSampling.greedy(), expected);
        try (NDManager m = manager.newSubManager(); SafeTensorsFile src = SafeTensorsFile.open(with)) {
            TtsLanguageModel other = TtsLanguageModel.load(src, m, DataType.FLOAT32, TinyTts.config(true),
                    TinyTts.LLM_HIDDEN, TinyTts.vocabulary());
            // Then both give the same units, and an untied config reads the stored head
            TtsLanguageModel keep = tts;
            tts = other;
            List<Long> got = new ArrayList<>();
            runStream(t, new TtsSchedule(3, 10, 20), TtsSampling.greedy(), got);
            TtsLanguageModel untied = TtsLanguageModel.load(src, m, DataType.FLOAT32, TinyTts.config(false),
                    TinyTts.LLM_HIDDEN, TinyTts.vocabulary());
            tts = untied;
            List<Long> gotUntied = new ArrayList<>();
            runStream(t, new TtsSchedule(3, 10, 20), TtsSampling.greedy(), gotUntied);
            tts = keep;
            assertThat(got).isEqualTo(expected);
            assertThat(gotUntied).isEqualTo(expected);
        }
    }

    @Test
    void shouldNameTheTensorAndBothShapesWhenTheCheckpointIsBad() throws Exception {
        TinyTts.Weights good = TinyTts.weights(5, false);
        // a missing tensor: its name and the shape expected
        assertThat(loadError(good.without("speech_generator.gate.0.bias"), true))
                .contains("speech_generator.gate.0.bias").contains("missing").contains("[32]");
        // a misshaped q/k/v bias (the Qwen2 option of the shared layer): the name, the file's shape and the expected
        assertThat(loadError(good.reshaped("speech_generator.model.model.layers.1.self_attn.k_proj.bias", 17), true))
                .contains("speech_generator.model.model.layers.1.self_attn.k_proj.bias").contains("[17]")
                .contains("[16]");
        // a misshaped fusion projection (H = 24 expected, 25 stored)
        assertThat(loadError(good.reshaped("speech_generator.input_proj.0.weight", 48, 25), true))
                .contains("speech_generator.input_proj.0.weight").contains("[48, 25]").contains("[48, 24]");
        // untied without lm_head.weight
        assertThat(loadError(good, false)).contains("speech_generator.model.lm_head.weight").contains("missing")
                .contains("[65, 32]");
    }

    private String loadError(TinyTts.Weights w, boolean tied) throws Exception {
        Path file = w.writeSafetensors(Files.createTempFile(dir, "bad", ".safetensors"));
        try (NDManager m = manager.newSubManager(); SafeTensorsFile src = SafeTensorsFile.open(file)) {
            CheckpointException e = org.junit.jupiter.api.Assertions.assertThrows(CheckpointException.class,
                    () -> TtsLanguageModel.load(src, m, DataType.FLOAT32, TinyTts.config(tied), TinyTts.LLM_HIDDEN,
                            TinyTts.vocabulary()));
            System.out.println("bad checkpoint: " + e.getMessage());
            return e.getMessage();
        }
    }

    @Test
    void shouldRefuseConfigsAndIdsItCannotRun() {
        assertThatThrownBy(() -> SpeechGeneratorConfig.fromConfigJson(
                "{\"speech_generator\": {\"hidden_size\": 32, \"intermediate_size\": 48, \"num_attention_heads\": 4,"
                        + " \"num_hidden_layers\": 2, \"vocab_size\": 65, \"rope_scaling\": {\"type\": \"yarn\"}}}"))
                .hasMessageContaining("rope_scaling");
        SpeechGeneratorConfig c = SpeechGeneratorConfig.fromConfigJson(
                "{\"model_type\": \"omni2_speech2s_qwen2\", \"speech_generator\": {\"hidden_size\": 32,"
                        + " \"intermediate_size\": 48, \"num_attention_heads\": 4, \"num_key_value_heads\": 2,"
                        + " \"num_hidden_layers\": 2, \"vocab_size\": 65, \"rope_theta\": 1000000.0,"
                        + " \"tie_word_embeddings\": true, \"eos_token_id\": 3}}");
        assertThat(c.spec().attentionBias()).isTrue();
        assertThat(c.spec().rope().scaling()).isNull();
        assertThat(c.spec().rope().theta()).isEqualTo(1e6);
        assertThat(c.rmsNormEps()).isEqualTo(1e-6);
        assertThat(TtsVocabulary.fromLayout(158227, 6561, 151643)).isEqualTo(TtsVocabulary.published());
        assertThatThrownBy(() -> new TtsVocabulary(41, 24, 41, 3)).hasMessageContaining("<sep> id 41");
        assertThatThrownBy(() -> TtsVocabulary.published().checkFits(65)).hasMessageContaining("vocab_size 65");
    }
}
