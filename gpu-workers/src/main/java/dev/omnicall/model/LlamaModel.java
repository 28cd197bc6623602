package dev.omnicall.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.omnicall.model.config.RopeSettings;
import dev.omnicall.model.io.TensorSource;
import java.util.ArrayList;
import java.util.List;

/**
 * The decoder-only transformer of both families: Llama-3.1 (LLaMA-Omni's LLM, paper §2.3) and Qwen2
 * (LLaMA-Omni2's LLM and its TTS language model), which differ only in what {@link Spec} says: q/k/v biases,
 * RoPE theta and scaling, RMSNorm eps, tied embeddings and the tensor-name prefix. Token embedding, N
 * decoder layers ({@link LlamaLayers}, the stack a family's own decoder is built on too), final RMSNorm, LM head. A
 * sequence's
 * state is its {@link KvCache}. {@link #forward} runs one sequence over several new rows (prefill, or a
 * full recompute when given a fresh cache); {@link #decodeBatch} runs one new token for each of several
 * sequences in one pass (continuous batching): {@link #decode} with the sequences in one {@link KvPool}
 * attends for all of them at once, {@link #decodeBatch} (the per-sequence reference) one by one.
 */
public final class LlamaModel {
    final NDArray embedTokens; // [vocab, dim]
    final LlamaLayers decoder; // num_hidden_layers layers with their RoPE
    final NDArray norm; // [dim]
    final NDArray lmHead; // [vocab, dim]; the same array as embedTokens when tied
    private final Spec spec;
    private final DataType type;
    private final NDManager manager;

    /** Output of a forward pass: the final-normed hidden states and the logits of the last row. */
    public record Output(NDArray hidden, NDArray lastLogits) {
    }

    /**
     * What a family's variation of the transformer is: the tensor names' prefix ({@code ""} for the LLM's
     * {@code model.*}/{@code lm_head.weight}; {@code "speech_generator.model."} for LLaMA-Omni2's TTS LM), sizes,
     * RMSNorm eps, RoPE (theta; llama3 scaling or none), whether the LM head is the embedding table
     * ({@code tie_word_embeddings}: {@code lm_head.weight} is then not read, present or not) and whether q/k/v
     * carry biases (Qwen2: yes, o_proj never; Llama: no).
     */
    public record Spec(String prefix, int hiddenSize, int intermediateSize, int numAttentionHeads,
            int numKeyValueHeads, int numHiddenLayers, double rmsNormEps, RopeSettings rope, int vocabSize,
            boolean tieWordEmbeddings, boolean attentionBias) {

        public Spec {
            require(prefix != null, "prefix must not be null (use \"\" for none)");
            require(hiddenSize > 0 && intermediateSize > 0 && numHiddenLayers > 0 && vocabSize > 0,
                    "hidden_size, intermediate_size, num_hidden_layers and vocab_size must be positive, got "
                            + hiddenSize + ", " + intermediateSize + ", " + numHiddenLayers + ", " + vocabSize);
            require(numAttentionHeads > 0 && hiddenSize % numAttentionHeads == 0, "hidden_size " + hiddenSize
                    + " is not divisible by num_attention_heads " + numAttentionHeads);
            require(numKeyValueHeads > 0 && numAttentionHeads % numKeyValueHeads == 0, "num_attention_heads "
                    + numAttentionHeads + " is not a multiple of num_key_value_heads " + numKeyValueHeads);
            require((hiddenSize / numAttentionHeads) % 2 == 0,
                    "head dim " + hiddenSize / numAttentionHeads + " must be even for RoPE");
            require(rmsNormEps > 0, "rms_norm_eps must be positive, got " + rmsNormEps);
            require(rope != null && rope.theta() > 0, "rope_theta must be positive");
        }

        /** Qwen2 (Qwen2.5): q/k/v biases, RoPE with {@code ropeTheta} and no scaling. */
        public static Spec qwen2(String prefix, int hiddenSize, int intermediateSize, int numAttentionHeads,
                int numKeyValueHeads, int numHiddenLayers, double rmsNormEps, double ropeTheta, int vocabSize,
                boolean tieWordEmbeddings) {
            return new Spec(prefix, hiddenSize, intermediateSize, numAttentionHeads, numKeyValueHeads,
                    numHiddenLayers, rmsNormEps, new RopeSettings(ropeTheta, null), vocabSize, tieWordEmbeddings,
                    true);
        }

        public int headDim() {
            return hiddenSize / numAttentionHeads;
        }

        private static void require(boolean ok, String message) {
            if (!ok) {
                throw new IllegalArgumentException("transformer spec: " + message);
            }
        }
    }

    private LlamaModel(TensorSource src, NDManager m, DataType type, Spec s) {
        this.spec = s;
        this.type = type;
        this.manager = m;
        int dim = s.hiddenSize();
        String p = s.prefix();
        embedTokens = src.load(m, p + "model.embed_tokens.weight", type, s.vocabSize(), dim);
        decoder = LlamaLayers.load(src, m, type, new LlamaLayers.Spec(p + "model.layers.", s.numHiddenLayers(), dim,
                s.numAttentionHeads(), s.numKeyValueHeads(), s.intermediateSize(), s.rmsNormEps(), s.rope(),
                s.attentionBias()));
        norm = src.load(m, p + "model.norm.weight", type, dim);
        lmHead = s.tieWordEmbeddings() ? embedTokens
                : src.load(m, p + "lm_head.weight", type, s.vocabSize(), dim);
    }

    /**
     * A transformer of the given variation (a family's LLM, e.g. {@code OmniConfig.llmSpec()}, or LLaMA-Omni2's TTS
     * LM, {@link Spec#qwen2}) with its weights from {@code src}; a missing or misshaped tensor fails with its name and
     * both shapes.
     */
    public static LlamaModel load(TensorSource src, NDManager m, DataType type, Spec spec) {
        return new LlamaModel(src, m, type, spec);
    }

    public Spec spec() {
        return spec;
    }

    public DataType dataType() {
        return type;
    }

    /** An empty cache sized for this model. */
    public KvCache newCache(long initialCapacity) {
        return decoder.newCache(initialCapacity);
    }

    /**
     * A KV pool for this model: {@code slots} sequences of up to {@code capacity} positions each, allocated
     * now on the model's device ({@link #poolSlotBytes} bytes per slot).
     */
    public KvPool newPool(int slots, long capacity) {
        return decoder.newPool(slots, capacity);
    }

    /** Device bytes of one pool slot of {@code capacity} positions. */
    public long poolSlotBytes(long capacity) {
        return decoder.poolSlotBytes(capacity);
    }

    /** Token ids [T] -> embeddings [T, dim]. */
    public NDArray embed(long[] ids) {
        return Ops.scoped(() -> Ops.embedding(manager.create(ids), embedTokens));
    }

    /**
     * One sequence: inputs [T, dim] become positions cache.length()..+T-1; keys identifies them in the
     * cache (token ids, negative for speech rows). Returns the normed hidden states [T, dim] and the
     * logits of the last row [vocab].
     */
    public Output forward(NDArray inputs, SequenceCache cache, long[] keys) {
        NDArray hidden = forwardStates(inputs, cache, keys);
        long t = hidden.getShape().get(0);
        // LM head on the last row only
        NDArray logits = Ops.scoped(() -> Ops.linear(hidden.get(t - 1), lmHead).toType(DataType.FLOAT32, false));
        return new Output(hidden, logits);
    }

    /**
     * {@link #forward} without the LM head: the normed hidden states [T, dim] (for a caller that scores only some
     * vocabulary rows, {@link #lmHeadRows}).
     */
    public NDArray forwardStates(NDArray inputs, SequenceCache cache, long[] keys) {
        long t = inputs.getShape().get(0);
        if (keys.length != t) {
            throw new IllegalArgumentException(keys.length + " position keys for " + t + " rows");
        }
        return Ops.scoped(() -> {
            // decoder layers over the new rows, appended to the cache as keys
            NDArray x = decoder.forward(inputs, cache, keys);
            // final norm
            return Ops.rmsNorm(x, norm, spec.rmsNormEps());
        });
    }

    /**
     * Several sequences of one pool, {@code rowsEach} new input rows each ({@link LlamaLayers#forwardPooled}: x
     * [B*T, dim], sequence b's T rows consecutive; one write and one batched causal attention per layer), then the
     * final norm: the normed hidden states [B*T, dim], no LM head. The slots' new positions are keyed 0. For a
     * family's block that feeds the model input embeddings and scores only some vocabulary rows (LLaMA-Omni2's TTS
     * LM).
     */
    public NDArray forwardPooledStates(NDArray inputs, List<KvPool.Slot> slots, long rowsEach) {
        return Ops.scoped(() -> Ops.rmsNorm(decoder.forwardPooled(inputs, slots, rowsEach), norm, spec.rmsNormEps()));
    }

    /** The LM head's rows (the embedding table's when tied) for these ids: [ids.length, dim], a copy. */
    public NDArray lmHeadRows(long[] ids) {
        return Ops.scoped(() -> Ops.embedding(manager.create(ids), lmHead));
    }

    /**
     * One new token for each sequence: tokens[i] is appended to caches.get(i). Returns the normed hidden
     * states [B, dim] and logits [B, vocab].
     */
    public Output decodeBatch(long[] tokens, List<KvCache> caches) {
        int b = tokens.length;
        if (caches.size() != b) {
            throw new IllegalArgumentException(b + " tokens for " + caches.size() + " caches");
        }
        long[] positions = new long[b];
        for (int i = 0; i < b; i++) {
            positions[i] = caches.get(i).length();
            caches.get(i).reserve(1);
        }
        NDArray hidden = Ops.scoped(() -> {
            // embeddings of the new tokens [B, dim]
            NDArray x = Ops.embedding(manager.create(tokens), embedTokens);
            // each row at its own position
            NDArray[] cs = decoder.table(positions);
            // decoder layers: batched projections, per-sequence attention
            for (int i = 0; i < decoder.size(); i++) {
                x = decoder.layer(i).forwardBatch(x, cs[0], cs[1], caches, i);
            }
            // final norm
            return Ops.rmsNorm(x, norm, spec.rmsNormEps());
        });
        for (int i = 0; i < b; i++) {
            caches.get(i).advance(new long[] {tokens[i]});
        }
        // LM head for every row
        NDArray logits = Ops.scoped(() -> Ops.linear(hidden, lmHead).toType(DataType.FLOAT32, false));
        return new Output(hidden, logits);
    }

    /**
     * One new token for each sequence (tokens[i] appended to caches.get(i)), the fast path: the rows whose
     * caches are slots of one {@link KvPool} attend all at once (the native operations of a step do not depend
     * on how many they are); rows with a cache of their own ({@link KvCache}, or a slot of another pool)
     * attend one by one as in {@link #decodeBatch}. Returns the normed hidden states [B, dim] and logits
     * [B, vocab] in the order given.
     */
    public Output decode(long[] tokens, List<? extends SequenceCache> caches) {
        NDArray hidden = decodeStates(tokens, caches, null);
        // LM head for every row
        NDArray logits = Ops.scoped(() -> Ops.linear(hidden, lmHead).toType(DataType.FLOAT32, false));
        return new Output(hidden, logits);
    }

    /** What a decode step with a newcomer's prompt rows in it gives: the decode rows' output and the prompt's. */
    public record Fused(Output decode, Output prompt) {
    }

    /**
     * One decode step ({@link #decode}: tokens[i] appended to caches.get(i)) with a chunk of a newcomer's prompt in the
     * same forward: promptInputs [P, dim] at positions promptCache.length()..+P-1, appended to promptCache as
     * promptKeys (as {@link #forward} would). Every layer's norms, projections and MLP run over the B + P rows as one
     * matrix, so the weights are read once for the step and the chunk; attention splits (the decode rows as in
     * {@link #decode}, the prompt rows causally over the newcomer's cache and their own chunk), and the LM head runs
     * over the B decode rows and the chunk's last row together. Returns the decode rows' normed hidden states [B, dim]
     * and logits [B, vocab] in the order given (the same as {@link #decode} gives, to float32 rounding), and the
     * chunk's normed hidden states [P, dim] and the logits of its last row [vocab] (the same as {@link #forward} over
     * the chunk gives).
     */
    public Fused decodeWithPrompt(long[] tokens, List<? extends SequenceCache> caches, NDArray promptInputs,
            SequenceCache promptCache, long[] promptKeys) {
        long rows = promptInputs.getShape().get(0);
        if (rows < 1 || promptKeys.length != rows) {
            throw new IllegalArgumentException(promptKeys.length + " position keys for " + rows + " prompt rows");
        }
        if (tokens.length == 0) {
            throw new IllegalArgumentException("a fused step needs at least 1 decode row (else use forward)");
        }
        for (SequenceCache c : caches) {
            if (c == promptCache) {
                throw new IllegalArgumentException("the prompt's cache is one of the decode rows' caches");
            }
        }
        int b = tokens.length;
        NDArray hidden = decodeStates(tokens, caches, new Prompt(promptInputs, promptCache, promptKeys));
        // LM head over the decode rows and the chunk's last row at once (one read of the head's weights)
        long[] headRows = new long[b + 1];
        for (int i = 0; i < b; i++) {
            headRows[i] = i;
        }
        headRows[b] = b + rows - 1;
        NDArray logits = Ops.scoped(() -> Ops.linear(hidden.get(new ai.djl.ndarray.index.NDIndex("{}",
                manager.create(headRows))), lmHead).toType(DataType.FLOAT32, false));
        ai.djl.ndarray.index.NDIndex decodeRows = new ai.djl.ndarray.index.NDIndex(":{}", b);
        return new Fused(new Output(hidden.get(decodeRows), logits.get(decodeRows)),
                new Output(hidden.get(new ai.djl.ndarray.index.NDIndex("{}:", b)), logits.get(b)));
    }

    /** A newcomer's prompt chunk in a decode step: its input rows [P, dim], its cache and its position keys. */
    private record Prompt(NDArray inputs, SequenceCache cache, long[] keys) {
        long rows() {
            return keys.length;
        }
    }

    /**
     * The normed hidden states of one decode step's rows in the order given, [B, dim], and after them those of the
     * prompt's rows (prompt null: none), [B+P, dim]; every cache advanced.
     */
    private NDArray decodeStates(long[] tokens, List<? extends SequenceCache> caches, Prompt prompt) {
        int b = tokens.length;
        if (caches.size() != b) {
            throw new IllegalArgumentException(b + " tokens for " + caches.size() + " caches");
        }
        // pooled rows first, then the others
        KvPool pool = null;
        int[] order = new int[b];
        int p = 0;
        for (int i = 0; i < b; i++) {
            if (caches.get(i) instanceof KvPool.Slot s && (pool == null || s.pool() == pool)) {
                pool = s.pool();
                order[p++] = i;
            }
        }
        sortBySlotWhenThatMakesARun(order, p, caches);
        int n = p;
        for (int i = 0; i < b; i++) {
            if (!(caches.get(i) instanceof KvPool.Slot s && s.pool() == pool)) {
                order[n++] = i;
            }
        }
        boolean identity = true;
        long[] orderedTokens = new long[b];
        long[] positions = new long[b];
        List<SequenceCache> ordered = new ArrayList<>(b);
        for (int j = 0; j < b; j++) {
            identity &= order[j] == j;
            SequenceCache c = caches.get(order[j]);
            c.reserve(1);
            ordered.add(c);
            orderedTokens[j] = tokens[order[j]];
            positions[j] = c.length();
        }
        int pooledCount = p;
        boolean inOrder = identity;
        // the prompt's rows after the decode rows, at the positions after what its cache holds
        long promptRows = prompt == null ? 0 : prompt.rows();
        long promptStart = prompt == null ? 0 : prompt.cache().length();
        if (prompt != null) {
            prompt.cache().reserve(promptRows);
        }
        long[] allPositions = prompt == null ? positions : java.util.Arrays.copyOf(positions, (int) (b + promptRows));
        for (int j = 0; j < promptRows; j++) {
            allPositions[b + j] = promptStart + j;
        }
        LlamaLayer.PromptRows promptOfLayers = prompt == null ? null
                : new LlamaLayer.PromptRows(prompt.cache(), promptStart, promptRows);
        NDArray hidden = Ops.scoped(() -> {
            // embeddings of the new tokens [B, dim] (then the prompt's rows: [B+P, dim])
            NDArray x = Ops.embedding(manager.create(orderedTokens), embedTokens);
            if (prompt != null) {
                x = x.concat(prompt.inputs().toType(x.getDataType(), false), 0);
            }
            // each row at its own position
            NDArray[] cs = decoder.table(allPositions);
            // the pooled rows' slots, write positions and length mask, shared by every layer
            LlamaLayer.PooledRows rows = pooledCount == 0 ? null : pooledRows(ordered, positions, pooledCount);
            for (int i = 0; i < decoder.size(); i++) {
                x = decoder.layer(i).forwardDecode(x, cs[0], cs[1], ordered, i, rows, promptOfLayers);
            }
            // final norm
            x = Ops.rmsNorm(x, norm, spec.rmsNormEps());
            if (inOrder) {
                return x;
            }
            // back to the order given (the prompt's rows stay last)
            long[] inverse = new long[(int) (b + promptRows)];
            for (int j = 0; j < b; j++) {
                inverse[order[j]] = j;
            }
            for (int j = b; j < inverse.length; j++) {
                inverse[j] = j;
            }
            return x.get(new ai.djl.ndarray.index.NDIndex("{}", manager.create(inverse)));
        });
        for (int i = 0; i < b; i++) {
            caches.get(i).advance(new long[] {tokens[i]});
        }
        if (prompt != null) {
            prompt.cache().advance(prompt.keys());
        }
        return hidden;
    }

    /**
     * The pooled rows order[0..count) in slot order when their slots, sorted, are consecutive but not so as given
     * (turns that joined in another order than their slots): the layers then read the pool through a view, not a
     * gather, at the price of one reordering of the hidden states at the end. Otherwise the order stays.
     */
    private static void sortBySlotWhenThatMakesARun(int[] order, int count, List<? extends SequenceCache> caches) {
        long[] slots = new long[count];
        for (int j = 0; j < count; j++) {
            slots[j] = ((KvPool.Slot) caches.get(order[j])).index();
        }
        if (count < 2 || KvPool.firstOfRun(slots) >= 0) {
            return;
        }
        long[] sorted = slots.clone();
        java.util.Arrays.sort(sorted);
        if (KvPool.firstOfRun(sorted) < 0) {
            return;
        }
        int[] rows = java.util.Arrays.copyOf(order, count);
        for (int j = 0; j < count; j++) {
            order[(int) (slots[j] - sorted[0])] = rows[j];
        }
    }

    private LlamaLayer.PooledRows pooledRows(List<SequenceCache> ordered, long[] positions, int count) {
        KvPool pool = ((KvPool.Slot) ordered.get(0)).pool();
        long[] slots = new long[count];
        long span = 0;
        for (int j = 0; j < count; j++) {
            slots[j] = ((KvPool.Slot) ordered.get(j)).index();
            span = Math.max(span, positions[j] + 1);
        }
        // the slots the rows read through one view (theirs, and any between), or null: a gather of theirs
        KvPool.Window window = pool.window(slots);
        long[] rowInWindow = window == null ? null : window.rowInWindow();
        int width = window == null ? count : (int) window.width();
        // additive mask: row j sees positions 0..positions[j] (its cache and its new token); a slot between sees all
        float[] mask = new float[(int) (width * span)];
        for (int j = 0; j < count; j++) {
            int at = rowInWindow == null ? j : (int) rowInWindow[j];
            java.util.Arrays.fill(mask, (int) (at * span + positions[j] + 1), (int) ((at + 1) * span),
                    Float.NEGATIVE_INFINITY);
        }
        NDArray maskArray = manager.create(mask, new ai.djl.ndarray.types.Shape(width, 1, 1, span));
        return new LlamaLayer.PooledRows(pool, count, manager.create(slots), window,
                rowInWindow == null ? null : manager.create(rowInWindow),
                rowInWindow == null ? null : manager.zeros(new ai.djl.ndarray.types.Shape(width,
                        spec.numAttentionHeads(), spec.headDim()), type),
                manager.create(java.util.Arrays.copyOf(positions, count)), maskArray, span);
    }

    /** Greedy choice. */
    static long argmax(NDArray logits) {
        return logits.argMax().toType(DataType.INT64, false).getLong();
    }
}
