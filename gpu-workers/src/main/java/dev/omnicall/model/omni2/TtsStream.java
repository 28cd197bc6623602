package dev.omnicall.model.omni2;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDScope;
import dev.omnicall.model.KvPool;
import dev.omnicall.model.LlamaModel;
import dev.omnicall.model.SequenceCache;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * One reply's TTS language model after LLaMA-Omni2's read/write schedule ({@link TtsSchedule}), incremental:
 * the context (fused rows, {@code <sep>}, every written token's embedding, end included, in the reference's
 * order) lives in this stream's own KV cache, and each TTS step runs only the rows appended since the last one.
 * The reference ({@code LLMSpeechGenerator.generate_units}) re-runs the whole context at every write; the same
 * units come out (tested against that loop). A write's LM steps run alone ({@link #accept}) or together with other
 * streams' ({@link TtsLanguageModel#writeAll}, the streams' caches slots of one pool): same units either way (tested).
 * Drive it from one thread; {@link #close} frees the cache (or its pool slot).
 */
public final class TtsStream implements AutoCloseable {
    private final TtsLanguageModel model;
    private final TtsSchedule schedule;
    private final TtsSampling sampling;
    private final SplittableRandom random;
    private final SequenceCache cache; // its own KvCache, or a slot of the engine's TTS pool
    private final List<NDArray> hiddens = new ArrayList<>(); // [H] each: states not yet fused (unregistered)
    private final List<Long> tokens = new ArrayList<>(); // their text tokens
    private final List<Long> context = new ArrayList<>(); // keys of every appended row, in order
    private NDArray pendingRows; // [n, D]: appended, not yet run through the LM (the last written token's)
    private long[] pendingKeys = new long[0];
    private int textTokens;
    private int unitsWritten;
    private boolean finished;
    // the write in progress (read() made it due; steps until its end token or its cap; finishWrite() closes it)
    private TtsSchedule.Write due;
    private int duePairs;
    private NDArray dueRows; // the rows its next LM step runs (unregistered)
    private long[] dueKeys;
    private int dueWritten;
    private final List<Integer> dueUnits = new ArrayList<>();
    private boolean dueEnded;

    /**
     * What one text token caused. {@code pairs} = 0: no write (not a write point). Otherwise {@code pairs} pairs
     * were fused, {@code <sep>} appended if {@code sep}, and {@code units} written (unit numbers, 0-based), the
     * end token after them if {@code ended}; {@code capped}: the final write stopped at the cap without the end.
     */
    public record Write(int textTokens, int pairs, boolean sep, int[] units, boolean ended, boolean capped) {
        public boolean wrote() {
            return pairs > 0;
        }
    }

    TtsStream(TtsLanguageModel model, TtsSchedule schedule, TtsSampling sampling, SequenceCache cache) {
        this.model = model;
        this.schedule = schedule;
        this.sampling = sampling;
        this.random = new SplittableRandom(sampling.isGreedy() ? 0 : sampling.seed());
        this.cache = cache;
    }

    /**
     * The next text token of the reply and the LLM state [H] (final-normed) at the position that predicted it;
     * {@code last} when it ends the text (the LLM's end token, or its length cap). Writes when the schedule
     * says so, this stream's LM steps alone. The state is copied; the caller keeps its own.
     */
    public Write accept(NDArray hidden, long token, boolean last) {
        if (!read(hidden, token, last)) {
            return new Write(textTokens, 0, false, new int[0], false, false);
        }
        return writeAlone();
    }

    /** Runs the write that {@link #read} made due to its end, this stream's LM steps alone (the reference). */
    public Write writeAlone() {
        // write: each step runs the new rows against the cache and appends the chosen token's embedding
        LlamaModel lm = model.lm();
        while (writing()) {
            try (NDScope scope = new NDScope()) {
                scope.suppressNotUsedWarning();
                NDArray states = lm.forwardStates(dueRows, cache, dueKeys);
                NDArray logits = model.candidateLogits(states.get(states.getShape().get(0) - 1));
                long id = model.pick(logits, sampling, random);
                took(id, lm.embed(new long[] {id}));
            }
        }
        return finishWrite();
    }

    /**
     * Reads the next text token and its LLM state as {@link #accept} does; true when the schedule writes now: the
     * write is then prepared (the pairs fused, {@code <sep>} when the text has ended) and runs step by step,
     * {@link #writing()} / {@link #took} (alone in {@link #accept}, or with other streams' in
     * {@link TtsLanguageModel#writeAll}) until {@link #finishWrite()}.
     */
    public boolean read(NDArray hidden, long token, boolean last) {
        if (finished) {
            throw new IllegalStateException("the TTS stream has finished: the text ended after " + textTokens
                    + " tokens");
        }
        if (due != null) {
            throw new IllegalStateException("the write after text token " + textTokens + " has not finished");
        }
        long width = model.fuseWidth();
        if (hidden.size() != width) {
            throw new IllegalArgumentException("LLM state of shape " + hidden.getShape() + " for a fusion of width "
                    + width);
        }
        NDArray copy = hidden.reshape(width).toType(model.lm().dataType(), true);
        NDScope.unregister(copy);
        hiddens.add(copy);
        tokens.add(token);
        textTokens++;
        TtsSchedule.Write plan = schedule.at(textTokens, hiddens.size(), last);
        if (plan == null) {
            return false;
        }
        finished = last;
        TtsVocabulary v = model.vocabulary();
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            // fuse the pairs read since the last write and append them (then <sep> when the text has ended)
            long[] ids = tokens.stream().mapToLong(Long::longValue).toArray();
            NDArray fused = model.fuse(NDArrays.stack(new NDList(hiddens)), ids);
            NDList parts = new NDList();
            if (pendingRows != null) {
                parts.add(pendingRows);
            }
            parts.add(fused);
            long[] keys = Arrays.copyOf(pendingKeys, pendingKeys.length + ids.length + (plan.sep() ? 1 : 0));
            for (int i = 0; i < ids.length; i++) {
                keys[pendingKeys.length + i] = fusedKey(ids[i]);
                context.add(fusedKey(ids[i]));
            }
            if (plan.sep()) {
                parts.add(model.lm().embed(new long[] {v.sepId()}));
                keys[keys.length - 1] = v.sepId();
                context.add((long) v.sepId());
            }
            dueRows = parts.size() == 1 ? parts.get(0) : NDArrays.concat(parts, 0);
            NDScope.unregister(dueRows);
            dueKeys = keys;
        }
        if (pendingRows != null) {
            pendingRows.close();
            pendingRows = null;
        }
        duePairs = hiddens.size();
        hiddens.forEach(NDArray::close);
        hiddens.clear();
        tokens.clear();
        due = plan;
        dueWritten = 0;
        dueUnits.clear();
        dueEnded = false;
        return true;
    }

    /** True while the write in progress has another LM step to run (no end token yet, under its cap). */
    boolean writing() {
        return due != null && !dueEnded && dueWritten < due.maxTokens();
    }

    /** The rows the next LM step of the write runs [n, D] (the stream keeps them). */
    NDArray dueRows() {
        return dueRows;
    }

    /** Their position keys. */
    long[] dueKeys() {
        return dueKeys.clone();
    }

    /** The stream's TTS LM cache (its own, or a pool slot). */
    SequenceCache cache() {
        return cache;
    }

    TtsSampling sampling() {
        return sampling;
    }

    SplittableRandom random() {
        return random;
    }

    /**
     * The write's LM step chose {@code id}; {@code row} [1, D] is its embedding, the next step's input (the stream
     * takes it over, out of the caller's scope).
     */
    void took(long id, NDArray row) {
        TtsVocabulary v = model.vocabulary();
        dueWritten++;
        context.add(id);
        NDScope.unregister(row);
        dueRows.close();
        dueRows = row;
        dueKeys = new long[] {id};
        if (id == v.endId()) {
            dueEnded = true;
        } else {
            dueUnits.add((int) (id - v.unitBase()));
        }
    }

    /** Ends the write in progress: the last written token is in the context but not yet in the cache. */
    Write finishWrite() {
        if (due == null || writing()) {
            throw new IllegalStateException("no write has run to its end");
        }
        pendingRows = dueRows;
        pendingKeys = dueKeys;
        dueRows = null;
        int[] units = dueUnits.stream().mapToInt(Integer::intValue).toArray();
        unitsWritten += units.length;
        boolean capped = due.sep() && !dueEnded;
        Write w = new Write(textTokens, duePairs, due.sep(), units, dueEnded, capped);
        due = null;
        return w;
    }

    /** The key of a fused (state, text token y) row in {@link #contextKeys}: −1 − y. */
    public static long fusedKey(long textToken) {
        return -1 - textToken;
    }

    /**
     * Every row appended to the TTS context, in order: {@link #fusedKey} for a fused pair, the {@code <sep>} id,
     * each written token's id (end included); the last written token is appended but not yet run.
     */
    public List<Long> contextKeys() {
        return List.copyOf(context);
    }

    /** Rows already run through the LM (in its cache). */
    public int cachedRows() {
        return cache.length();
    }

    public int textTokens() {
        return textTokens;
    }

    public int unitsWritten() {
        return unitsWritten;
    }

    public boolean isFinished() {
        return finished;
    }

    /** True when the stream's cache is a slot of a TTS pool. */
    public boolean pooled() {
        return cache instanceof KvPool.Slot;
    }

    @Override
    public void close() {
        hiddens.forEach(NDArray::close);
        hiddens.clear();
        if (pendingRows != null) {
            pendingRows.close();
            pendingRows = null;
        }
        if (dueRows != null) {
            dueRows.close();
            dueRows = null;
        }
        cache.close();
    }
}
