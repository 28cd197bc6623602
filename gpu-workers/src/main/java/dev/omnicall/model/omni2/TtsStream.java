package dev.omnicall.model.omni2;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDScope;
import dev.omnicall.model.KvCache;
import dev.omnicall.model.LlamaModel;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * One reply's TTS language model after LLaMA-Omni2's read/write schedule ({@link TtsSchedule}), incremental:
 * the context (fused rows, {@code <sep>}, every written token's embedding, end included, in the reference's
 * order) lives in this stream's own KV cache, and each TTS step runs only the rows appended since the last one.
 * The reference ({@code LLMSpeechGenerator.generate_units}) re-runs the whole context at every write; the same
 * units come out (tested against that loop). Drive it from one thread; {@link #close} frees the cache.
 */
public final class TtsStream implements AutoCloseable {
    private final TtsLanguageModel model;
    private final TtsSchedule schedule;
    private final TtsSampling sampling;
    private final SplittableRandom random;
    private final KvCache cache;
    private final List<NDArray> hiddens = new ArrayList<>(); // [H] each: states not yet fused (unregistered)
    private final List<Long> tokens = new ArrayList<>(); // their text tokens
    private final List<Long> context = new ArrayList<>(); // keys of every appended row, in order
    private NDArray pendingRows; // [n, D]: appended, not yet run through the LM (the last written token's)
    private long[] pendingKeys = new long[0];
    private int textTokens;
    private int unitsWritten;
    private boolean finished;

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

    TtsStream(TtsLanguageModel model, TtsSchedule schedule, TtsSampling sampling) {
        this.model = model;
        this.schedule = schedule;
        this.sampling = sampling;
        this.random = new SplittableRandom(sampling.isGreedy() ? 0 : sampling.seed());
        this.cache = model.newCache();
    }

    /**
     * The next text token of the reply and the LLM state [H] (final-normed) at the position that predicted it;
     * {@code last} when it ends the text (the LLM's end token, or its length cap). Writes when the schedule
     * says so. The state is copied; the caller keeps its own.
     */
    public Write accept(NDArray hidden, long token, boolean last) {
        if (finished) {
            throw new IllegalStateException("the TTS stream has finished: the text ended after " + textTokens
                    + " tokens");
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
            return new Write(textTokens, 0, false, new int[0], false, false);
        }
        finished = last;
        return write(plan);
    }

    private Write write(TtsSchedule.Write plan) {
        TtsVocabulary v = model.vocabulary();
        LlamaModel lm = model.lm();
        List<Integer> units = new ArrayList<>();
        boolean ended = false;
        int written = 0;
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
                parts.add(lm.embed(new long[] {v.sepId()}));
                keys[keys.length - 1] = v.sepId();
                context.add((long) v.sepId());
            }
            NDArray rows = parts.size() == 1 ? parts.get(0) : NDArrays.concat(parts, 0);
            // write: each step runs the new rows against the cache and appends the chosen token's embedding
            while (written < plan.maxTokens()) {
                NDArray states = lm.forwardStates(rows, cache, keys);
                NDArray logits = model.candidateLogits(states.get(states.getShape().get(0) - 1));
                long id = model.pick(logits, sampling, random);
                written++;
                context.add(id);
                rows = lm.embed(new long[] {id});
                keys = new long[] {id};
                if (id == v.endId()) {
                    ended = true;
                    break;
                }
                units.add((int) (id - v.unitBase()));
            }
            // the last written token is in the context but not yet in the cache
            NDScope.unregister(rows);
            if (pendingRows != null) {
                pendingRows.close();
            }
            pendingRows = rows;
            pendingKeys = keys;
        }
        int pairs = hiddens.size();
        hiddens.forEach(NDArray::close);
        hiddens.clear();
        tokens.clear();
        unitsWritten += units.size();
        boolean capped = plan.sep() && !ended;
        return new Write(textTokens, pairs, plan.sep(), units.stream().mapToInt(Integer::intValue).toArray(), ended,
                capped);
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

    @Override
    public void close() {
        hiddens.forEach(NDArray::close);
        hiddens.clear();
        if (pendingRows != null) {
            pendingRows.close();
            pendingRows = null;
        }
        cache.close();
    }
}
