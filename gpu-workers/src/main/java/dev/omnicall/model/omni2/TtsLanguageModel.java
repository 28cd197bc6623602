package dev.omnicall.model.omni2;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import dev.omnicall.model.KvCache;
import dev.omnicall.model.KvPool;
import dev.omnicall.model.LlamaModel;
import dev.omnicall.model.Ops;
import dev.omnicall.model.io.TensorSource;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;

/**
 * LLaMA-Omni2's speech generator ({@code speech_generator.*}): the gated fusion of LLM states with their tokens
 * and the TTS language model, a Qwen2 ({@link LlamaModel} with {@link SpeechGeneratorConfig#spec()}) run over
 * input embeddings. The reference re-runs the TTS LM over the whole context at every write; here each reply's
 * {@link TtsStream} keeps its KV cache across writes (its own, or a slot of a {@link KvPool}), so a write costs only
 * its new rows, and the writes of several replies due at the same step run their LM steps together
 * ({@link #writeAll}).
 */
public final class TtsLanguageModel {
    private final LlamaModel lm;
    private final GatedFusion fusion;
    private final TtsVocabulary vocabulary;
    private final SpeechGeneratorConfig config;
    private final int llmHidden;
    private final long[] candidates; // the ids a TTS step may write, ascending: the units and end
    private final NDArray candidateHead; // [candidates, D]: the LM head's rows of those ids

    private TtsLanguageModel(LlamaModel lm, GatedFusion fusion, TtsVocabulary vocabulary,
            SpeechGeneratorConfig config, int llmHidden) {
        this.llmHidden = llmHidden;
        this.candidates = candidateIds(vocabulary);
        this.candidateHead = lm.lmHeadRows(candidates);
        NDScope.unregister(candidateHead);
        this.lm = lm;
        this.fusion = fusion;
        this.vocabulary = vocabulary;
        this.config = config;
    }

    /**
     * Loads {@code speech_generator.input_proj.{0,2}}, {@code speech_generator.gate.0} and the Qwen2 under
     * {@code speech_generator.model.} ({@code lm_head.weight} is not read when tied); {@code llmHidden} is the LLM's
     * width H. A missing or misshaped tensor fails with its name and both shapes.
     */
    public static TtsLanguageModel load(TensorSource src, NDManager manager, DataType type,
            SpeechGeneratorConfig config, int llmHidden, TtsVocabulary vocabulary) {
        vocabulary.checkFits(config.vocabSize());
        if (llmHidden <= 0) {
            throw new IllegalArgumentException("the LLM's hidden size must be positive, got " + llmHidden);
        }
        LlamaModel lm = LlamaModel.load(src, manager, type, config.spec());
        GatedFusion fusion = new GatedFusion(src, manager, type, llmHidden, config.hiddenSize());
        return new TtsLanguageModel(lm, fusion, vocabulary, config, llmHidden);
    }

    /** A reply's TTS state: its own cache, the schedule and the token choice. */
    public TtsStream newStream(TtsSchedule schedule, TtsSampling sampling) {
        return new TtsStream(this, schedule, sampling, newCache());
    }

    /**
     * A reply's TTS state in a slot of {@code pool} (from {@link #newPool}) when one is free and holds the whole
     * context of a reply of up to {@code maxTextTokens} text tokens ({@link #contextBound}); otherwise with a cache of
     * its own. Its writes can then run with other pooled streams' in {@link #writeAll}.
     */
    public TtsStream newStream(TtsSchedule schedule, TtsSampling sampling, KvPool pool, int maxTextTokens) {
        KvPool.Slot slot = pool != null && contextBound(schedule, maxTextTokens) <= pool.capacity() ? pool.acquire()
                : null;
        return new TtsStream(this, schedule, sampling, slot != null ? slot : newCache());
    }

    /** A pool for the TTS LM's caches: {@code slots} replies of up to {@code capacity} context rows each. */
    public KvPool newPool(int slots, long capacity) {
        return lm.newPool(slots, capacity);
    }

    /** Device bytes of one pool slot of {@code capacity} rows. */
    public long poolSlotBytes(long capacity) {
        return lm.poolSlotBytes(capacity);
    }

    /**
     * The most rows a reply's TTS context can hold in its cache: one fused row per text token, {@code <sep>}, W
     * tokens at each of the mid-reply writes (after every R tokens but the last) and the final cap.
     */
    public static long contextBound(TtsSchedule schedule, int maxTextTokens) {
        long midWrites = (maxTextTokens - 1L) / schedule.readTokens();
        return maxTextTokens + 1L + midWrites * schedule.writeUnits() + schedule.finalCap();
    }

    /**
     * Runs the due writes of several streams ({@link TtsStream#read} said true) to their ends, their LM steps
     * together: at each step the streams still writing whose caches are slots of one pool run in one
     * {@link LlamaModel#forwardPooledStates} per row count (a write's first step has its pairs, {@code <sep>} and the
     * last write's token, the next ones one row each), the others alone; one candidate head and one argmax (greedy)
     * or one copy of the logits (sampled, each stream from its own random) for all; the chosen tokens embedded in one
     * call. Same units as each stream's {@link TtsStream#accept} (tested). Returns the writes in the order given.
     */
    public List<TtsStream.Write> writeAll(List<TtsStream> streams) {
        while (true) {
            List<TtsStream> active = streams.stream().filter(TtsStream::writing).toList();
            if (active.isEmpty()) {
                break;
            }
            try (NDScope scope = new NDScope()) {
                scope.suppressNotUsedWarning();
                // the last state of each active stream's rows: pooled streams by row count, the rest alone
                NDArray[] last = new NDArray[active.size()];
                Map<Long, List<Integer>> byRows = new TreeMap<>();
                KvPool pool = null;
                for (int i = 0; i < active.size(); i++) {
                    TtsStream t = active.get(i);
                    if (t.cache() instanceof KvPool.Slot slot && (pool == null || slot.pool() == pool)) {
                        pool = slot.pool();
                        byRows.computeIfAbsent(t.dueRows().getShape().get(0), k -> new ArrayList<>()).add(i);
                    } else {
                        NDArray states = lm.forwardStates(t.dueRows(), t.cache(), t.dueKeys());
                        last[i] = states.get(new NDIndex("-1:"));
                    }
                }
                for (Map.Entry<Long, List<Integer>> group : byRows.entrySet()) {
                    long rows = group.getKey();
                    List<Integer> members = group.getValue();
                    NDList x = new NDList(members.size());
                    List<KvPool.Slot> slots = new ArrayList<>(members.size());
                    for (int i : members) {
                        x.add(active.get(i).dueRows());
                        slots.add((KvPool.Slot) active.get(i).cache());
                    }
                    NDArray states = lm.forwardPooledStates(x.size() == 1 ? x.get(0) : NDArrays.concat(x, 0), slots,
                            rows);
                    // each member's last row: [members, D]
                    NDArray ends = rows == 1 ? states
                            : states.reshape(members.size(), rows, -1).get(new NDIndex(":, -1, :"));
                    NDList split = ends.split(members.size());
                    for (int j = 0; j < members.size(); j++) {
                        last[members.get(j)] = split.get(j);
                    }
                }
                // the candidates' logits of all, and each stream's choice
                NDArray logits = candidateLogits(NDArrays.concat(new NDList(last), 0));
                long[] ids = new long[active.size()];
                if (active.stream().allMatch(t -> t.sampling().isGreedy())) {
                    long[] best = logits.argMax(-1).toLongArray();
                    for (int i = 0; i < ids.length; i++) {
                        ids[i] = candidates[(int) best[i]];
                    }
                } else {
                    float[] all = logits.toFloatArray();
                    int c = candidates.length;
                    for (int i = 0; i < ids.length; i++) {
                        float[] row = java.util.Arrays.copyOfRange(all, i * c, (i + 1) * c);
                        ids[i] = pick(row, active.get(i).sampling(), active.get(i).random());
                    }
                }
                // the chosen tokens' embeddings: the next step's rows
                NDList next = lm.embed(ids).split(ids.length);
                for (int i = 0; i < ids.length; i++) {
                    active.get(i).took(ids[i], next.get(i));
                }
            }
        }
        List<TtsStream.Write> writes = new ArrayList<>(streams.size());
        for (TtsStream t : streams) {
            writes.add(t.finishWrite());
        }
        return writes;
    }

    /** The fused rows [n, D] of LLM states [n, H] and the tokens they predicted. */
    public NDArray fuse(NDArray hidden, long[] tokens) {
        return Ops.scoped(() -> fusion.fuse(hidden, lm.embed(tokens)));
    }

    public LlamaModel lm() {
        return lm;
    }

    public TtsVocabulary vocabulary() {
        return vocabulary;
    }

    public SpeechGeneratorConfig config() {
        return config;
    }

    /** H: the width of the LLM states this fusion takes. */
    public int fuseWidth() {
        return llmHidden;
    }

    KvCache newCache() {
        return lm.newCache(64);
    }

    /** The ids a TTS step may write, ascending: the unit ids and the end id. */
    static long[] candidateIds(TtsVocabulary v) {
        long[] ids = new long[v.unitCount() + 1];
        for (int u = 0; u < v.unitCount(); u++) {
            ids[u] = v.unitBase() + u;
        }
        ids[v.unitCount()] = v.endId();
        java.util.Arrays.sort(ids);
        return ids;
    }

    long[] candidates() {
        return candidates.clone();
    }

    /**
     * The logits [candidates] (float32) of a final-normed state [D]: only the LM head's rows that can be written
     * (6562 of 158227 at the published sizes), equal to those entries of the full head's logits (tested against
     * the full head in TtsLanguageModelTest).
     */
    NDArray candidateLogits(NDArray state) {
        return Ops.scoped(() -> Ops.linear(state, candidateHead, null).toType(DataType.FLOAT32, false));
    }

    /**
     * The next token from the candidates' logits: greedy (the first maximum, so a tie goes to the lower id, as a
     * masked argmax over the whole vocabulary would), or sampled from softmax(logits / T) with {@code random}.
     */
    long pick(NDArray candidateLogits, TtsSampling sampling, SplittableRandom random) {
        if (sampling.isGreedy()) {
            return candidates[(int) candidateLogits.argMax().toType(DataType.INT64, false).getLong()];
        }
        return pick(candidateLogits.toFloatArray(), sampling, random);
    }

    /** {@link #pick(NDArray, TtsSampling, SplittableRandom)} of logits already on the heap. */
    long pick(float[] logits, TtsSampling sampling, SplittableRandom random) {
        if (sampling.isGreedy()) {
            int best = 0;
            for (int i = 1; i < logits.length; i++) {
                if (logits[i] > logits[best]) {
                    best = i;
                }
            }
            return candidates[best];
        }
        double max = Double.NEGATIVE_INFINITY;
        for (float x : logits) {
            max = Math.max(max, x);
        }
        double[] weights = new double[logits.length];
        double sum = 0;
        for (int i = 0; i < logits.length; i++) {
            weights[i] = Math.exp((logits[i] - max) / sampling.temperature());
            sum += weights[i];
        }
        // inverse CDF in id order
        double r = random.nextDouble() * sum;
        for (int i = 0; i < logits.length; i++) {
            r -= weights[i];
            if (r < 0) {
                return candidates[i];
            }
        }
        return candidates[logits.length - 1];
    }
}
