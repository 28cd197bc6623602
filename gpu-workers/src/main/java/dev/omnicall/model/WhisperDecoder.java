package dev.omnicall.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.omnicall.model.io.TensorSource;
import java.util.ArrayList;
import java.util.List;

/**
 * Whisper's text decoder (openai/whisper {@code TextDecoder}): token embedding plus learned positions,
 * pre-LN blocks of causal self-attention, cross-attention over the encoder output and a GELU MLP, a final
 * LayerNorm, and logits from the token embedding itself (tied: logits = x · token_embedding^T). Weights
 * under {@code model.speech_decoder.} with openai's names after {@code decoder.}.
 *
 * <p>{@link #forward} recomputes every position (the reference the tests compare with); a {@link State}
 * computes the cross-attention keys and values once per utterance and keeps a self-attention KV cache, so
 * {@link #decode} costs one position per new token. {@link Beams} holds a beam search's live hypotheses as the
 * rows of one batch, so a search step is one forward for all of them instead of one per hypothesis.
 */
public final class WhisperDecoder {
    public static final String PREFIX = "model.speech_decoder.";
    private static final double LN_EPS = 1e-5;

    /** openai's text dims: n_vocab, n_text_ctx, n_text_state, n_text_head, n_text_layer. */
    public record Dims(int nVocab, int nTextCtx, int nTextState, int nTextHead, int nTextLayer) {
        public Dims {
            if (nVocab <= 0 || nTextCtx <= 0 || nTextState <= 0 || nTextHead <= 0 || nTextLayer <= 0) {
                throw new IllegalArgumentException("Whisper decoder dims must be positive: n_vocab " + nVocab
                        + ", n_text_ctx " + nTextCtx + ", n_text_state " + nTextState + ", n_text_head " + nTextHead
                        + ", n_text_layer " + nTextLayer);
            }
            if (nTextState % nTextHead != 0) {
                throw new IllegalArgumentException("Whisper decoder n_text_state " + nTextState
                        + " is not divisible by n_text_head " + nTextHead);
            }
        }

        /** Whisper large-v3's decoder. */
        public static Dims largeV3() {
            return new Dims(51866, 448, 1280, 20, 32);
        }
    }

    final NDArray tokenEmbedding; // [nVocab, dim], also the output projection
    final NDArray positionalEmbedding; // [nTextCtx, dim]
    final List<Block> blocks; // n_text_layer
    final NDArray lnWeight; // [dim]
    final NDArray lnBias; // [dim]
    private final Dims dims;
    private final DataType type;
    private final NDManager manager;

    /** openai's MultiHeadAttention: query, key (no bias), value, out. */
    static final class Attention {
        final NDArray query; // [dim, dim]
        final NDArray queryBias; // [dim]
        final NDArray key; // [dim, dim], no bias
        final NDArray value; // [dim, dim]
        final NDArray valueBias; // [dim]
        final NDArray out; // [dim, dim]
        final NDArray outBias; // [dim]

        Attention(TensorSource src, NDManager m, DataType t, String p, int dim) {
            query = src.load(m, p + "query.weight", t, dim, dim);
            queryBias = src.load(m, p + "query.bias", t, dim);
            key = src.load(m, p + "key.weight", t, dim, dim);
            value = src.load(m, p + "value.weight", t, dim, dim);
            valueBias = src.load(m, p + "value.bias", t, dim);
            out = src.load(m, p + "out.weight", t, dim, dim);
            outBias = src.load(m, p + "out.bias", t, dim);
        }
    }

    /** One residual block: self-attention, cross-attention, MLP, each behind its own LayerNorm. */
    static final class Block {
        final NDArray attnLnWeight; // [dim]
        final NDArray attnLnBias; // [dim]
        final Attention attn;
        final NDArray crossAttnLnWeight; // [dim]
        final NDArray crossAttnLnBias; // [dim]
        final Attention crossAttn;
        final NDArray mlpLnWeight; // [dim]
        final NDArray mlpLnBias; // [dim]
        final NDArray mlp0; // [4*dim, dim]
        final NDArray mlp0Bias; // [4*dim]
        final NDArray mlp2; // [dim, 4*dim]
        final NDArray mlp2Bias; // [dim]

        Block(TensorSource src, NDManager m, DataType t, String p, int dim) {
            attnLnWeight = src.load(m, p + "attn_ln.weight", t, dim);
            attnLnBias = src.load(m, p + "attn_ln.bias", t, dim);
            attn = new Attention(src, m, t, p + "attn.", dim);
            crossAttnLnWeight = src.load(m, p + "cross_attn_ln.weight", t, dim);
            crossAttnLnBias = src.load(m, p + "cross_attn_ln.bias", t, dim);
            crossAttn = new Attention(src, m, t, p + "cross_attn.", dim);
            mlpLnWeight = src.load(m, p + "mlp_ln.weight", t, dim);
            mlpLnBias = src.load(m, p + "mlp_ln.bias", t, dim);
            mlp0 = src.load(m, p + "mlp.0.weight", t, 4L * dim, dim);
            mlp0Bias = src.load(m, p + "mlp.0.bias", t, 4L * dim);
            mlp2 = src.load(m, p + "mlp.2.weight", t, dim, 4L * dim);
            mlp2Bias = src.load(m, p + "mlp.2.bias", t, dim);
        }
    }

    WhisperDecoder(TensorSource src, NDManager m, DataType t, Dims dims) {
        this.dims = dims;
        this.type = t;
        this.manager = m;
        int dim = dims.nTextState();
        tokenEmbedding = src.load(m, PREFIX + "token_embedding.weight", t, dims.nVocab(), dim);
        positionalEmbedding = src.load(m, PREFIX + "positional_embedding", t, dims.nTextCtx(), dim);
        blocks = new ArrayList<>();
        for (int i = 0; i < dims.nTextLayer(); i++) {
            blocks.add(new Block(src, m, t, PREFIX + "blocks." + i + ".", dim));
        }
        lnWeight = src.load(m, PREFIX + "ln.weight", t, dim);
        lnBias = src.load(m, PREFIX + "ln.bias", t, dim);
    }

    public Dims dims() {
        return dims;
    }

    public DataType dataType() {
        return type;
    }

    /**
     * Per-utterance state: the cross-attention keys and values of every block (computed once from the
     * encoder output, shared by every {@link #fork() fork}) and the self-attention cache of the positions decoded
     * so far (each fork its own copy).
     */
    public final class State implements AutoCloseable {
        private final Cross cross;
        private final KvCache cache;
        private boolean closed;

        private State(Cross cross, KvCache cache) {
            this.cross = cross;
            this.cache = cache;
        }

        /** Positions decoded so far. */
        public int length() {
            return cache.length();
        }

        /** Frames of the encoder output this state attends to. */
        public long frames() {
            return cross.keys[0].getShape().get(1);
        }

        /**
         * A second state at the same positions (beam search): the cross-attention keys and values shared, the
         * self-attention cache copied; each is decoded and closed on its own.
         */
        public State fork() {
            if (closed) {
                throw new IllegalStateException("decoder state is closed");
            }
            KvCache copy = cache.copy();
            cross.references++;
            return new State(cross, copy);
        }

        @Override
        public void close() {
            if (!closed) {
                closed = true;
                cross.release();
                cache.close();
            }
        }
    }

    /** The cross-attention keys and values of one utterance, freed when the last state using them closes. */
    private final class Cross {
        final NDArray[] keys; // per block [heads, frames, headDim], scaled by d_head^-0.25
        final NDArray[] values; // per block [heads, frames, headDim]
        final NDManager owned; // holds the cross K/V, whoever owns the encoder output
        int references = 1;

        Cross(NDArray encoderOut) {
            keys = new NDArray[blocks.size()];
            values = new NDArray[blocks.size()];
            owned = manager.newSubManager();
            try (NDScope scope = new NDScope()) {
                scope.suppressNotUsedWarning();
                NDArray xa = encoderOut.toType(type, false);
                for (int i = 0; i < blocks.size(); i++) {
                    NDArray[] kv = crossKeysAndValues(blocks.get(i).crossAttn, xa);
                    keys[i] = kv[0];
                    values[i] = kv[1];
                    NDScope.unregister(kv);
                    kv[0].attach(owned);
                    kv[1].attach(owned);
                }
            } catch (RuntimeException e) {
                owned.close();
                throw e;
            }
        }

        void release() {
            if (--references == 0) {
                owned.close();
            }
        }
    }

    /**
     * The live hypotheses of one utterance's beam search as the rows of one batch: the cross-attention keys and
     * values shared (each block reads them once for all rows), the self-attention caches stacked per block. Every
     * row holds the same positions 0..length()-1, because a beam search step extends every live hypothesis by
     * exactly one token; that is what lets one forward serve them all, each row's query at the same position
     * against its own keys. {@link #reorder} makes the rows the chosen parents' (a parent chosen twice is copied,
     * one not chosen dropped), as production beam search reorders its cache. Driven from one thread.
     */
    public final class Beams implements AutoCloseable {
        private final Cross cross;
        private final NDManager owned; // the caches below
        private final NDArray[] keys; // per block [rows, heads, capacity, headDim], scaled by d_head^-0.25
        private final NDArray[] values; // per block [rows, heads, capacity, headDim]
        private long capacity;
        private int length;
        private int rows;
        private boolean closed;

        private Beams(State state) {
            if (state.closed) {
                throw new IllegalStateException("decoder state is closed");
            }
            length = state.length();
            rows = 1;
            capacity = Math.max(16, 2L * length);
            keys = new NDArray[blocks.size()];
            values = new NDArray[blocks.size()];
            owned = manager.newSubManager();
            try (NDScope scope = new NDScope()) { // the views read from are freed here
                scope.suppressNotUsedWarning();
                NDIndex upTo = new NDIndex(":, :, :{}", length);
                for (int i = 0; i < blocks.size(); i++) {
                    keys[i] = allocate(rows, capacity);
                    values[i] = allocate(rows, capacity);
                    if (length > 0) {
                        NDArray[] held = state.cache.heldPositions(i); // [heads, length, headDim] each
                        keys[i].set(upTo, held[0].expandDims(0));
                        values[i].set(upTo, held[1].expandDims(0));
                    }
                }
            } catch (RuntimeException e) {
                owned.close();
                throw e;
            }
            cross = state.cross;
            cross.references++;
        }

        private NDArray allocate(long count, long positions) {
            NDArray a = owned.zeros(new Shape(count, dims.nTextHead(), positions, headDim()), type);
            NDScope.unregister(a);
            return a;
        }

        /** Live hypotheses (rows of the batch). */
        public int rows() {
            return rows;
        }

        /** Positions decoded so far, the same in every row. */
        public int length() {
            return length;
        }

        /**
         * Row i becomes a copy of the old row parents[i] (any number of rows; a parent may repeat or be left out).
         * One gather per block and array; nothing when the rows stay as they are.
         */
        public void reorder(int[] parents) {
            checkOpen();
            if (parents.length == 0) {
                throw new IllegalArgumentException("no rows to keep");
            }
            boolean same = parents.length == rows;
            long[] index = new long[parents.length];
            for (int i = 0; i < parents.length; i++) {
                if (parents[i] < 0 || parents[i] >= rows) {
                    throw new IllegalArgumentException("parent row " + parents[i] + " outside 0.." + (rows - 1));
                }
                index[i] = parents[i];
                same &= parents[i] == i;
            }
            if (same) {
                return;
            }
            try (NDArray rowIndex = owned.create(index)) {
                NDIndex chosen = new NDIndex("{}", rowIndex);
                for (int i = 0; i < keys.length; i++) {
                    keys[i] = replace(keys[i], keys[i].get(chosen));
                    values[i] = replace(values[i], values[i].get(chosen));
                }
            }
            rows = parents.length;
        }

        private NDArray replace(NDArray old, NDArray next) {
            NDScope.unregister(next);
            old.close();
            return next;
        }

        /**
         * Feeds tokens[i] to row i at position length() (one forward for all rows) and returns float32 logits
         * [rows, nVocab].
         */
        public NDArray decode(long[] tokens) {
            checkOpen();
            if (tokens.length != rows) {
                throw new IllegalArgumentException(tokens.length + " tokens for " + rows + " rows");
            }
            checkPositions(length, 1);
            reserve();
            NDArray logits = Ops.scoped(() -> logits(run(embed(tokens, length, 1), cross.keys, cross.values,
                    this::selfAttention)));
            length++;
            return logits;
        }

        /** Room for one more position in every row: capacity doubles, the held positions copied. */
        private void reserve() {
            if (length < capacity) {
                return;
            }
            long bigger = capacity * 2;
            NDIndex held = new NDIndex(":, :, :{}", length);
            for (int i = 0; i < keys.length; i++) {
                keys[i] = grow(keys[i], held, bigger);
                values[i] = grow(values[i], held, bigger);
            }
            capacity = bigger;
        }

        private NDArray grow(NDArray old, NDIndex held, long positions) {
            NDArray next = allocate(rows, positions);
            try (NDArray view = old.get(held)) {
                next.set(held, view);
            }
            old.close();
            return next;
        }

        /**
         * Self-attention of h [rows, dim], one position per row: q and k scaled by d_head^-0.25 as in
         * openai/whisper, k and v written at position length() of each row's cache; the query sits after every
         * cached position, so no mask. Scores and softmax in float32, as {@link Ops#attention}.
         */
        private NDArray selfAttention(Attention a, NDArray h, int layer) {
            int heads = dims.nTextHead();
            NDArray q = Ops.linear(h, a.query, a.queryBias).reshape(rows, heads, 1, headDim()).mul(scale());
            NDArray k = Ops.linear(h, a.key).reshape(rows, heads, 1, headDim()).mul(scale());
            NDArray v = Ops.linear(h, a.value, a.valueBias).reshape(rows, heads, 1, headDim());
            keys[layer].set(new NDIndex(":, :, {}:{}", length, length + 1), k);
            values[layer].set(new NDIndex(":, :, {}:{}", length, length + 1), v);
            NDIndex upTo = new NDIndex(":, :, :{}", length + 1);
            // [rows, heads, 1, headDim] x [rows, heads, headDim, S] -> [rows, heads, 1, S]
            NDArray probs = q.matMul(keys[layer].get(upTo).transpose(0, 1, 3, 2)).toType(DataType.FLOAT32, false)
                    .softmax(-1).toType(type, false);
            NDArray out = probs.matMul(values[layer].get(upTo)).reshape(rows, (long) heads * headDim());
            return Ops.linear(out, a.out, a.outBias);
        }

        private void checkOpen() {
            if (closed) {
                throw new IllegalStateException("beams are closed");
            }
        }

        @Override
        public void close() {
            if (!closed) {
                closed = true;
                cross.release();
                owned.close();
            }
        }
    }

    /**
     * A beam search's rows, starting as one: state's positions copied, its cross-attention K/V shared. The state
     * stays usable and is closed on its own.
     */
    public Beams beams(State state) {
        return new Beams(state);
    }

    /** Cross K/V for one utterance; encoderOut [frames, n_audio_state] (= n_text_state in every Whisper). */
    public State newState(NDArray encoderOut) {
        checkEncoderOut(encoderOut);
        Cross cross = new Cross(encoderOut);
        return new State(cross, new KvCache(manager, blocks.size(), dims.nTextHead(), headDim(), type, 16));
    }

    /**
     * Feeds tokens at positions state.length().. and returns float32 logits: of the last position only
     * ([1, nVocab]) unless allPositions ([n, nVocab]).
     */
    public NDArray decode(State state, long[] tokens, boolean allPositions) {
        if (state.closed) {
            throw new IllegalStateException("decoder state is closed");
        }
        long start = state.length();
        checkPositions(start, tokens.length);
        NDArray logits = Ops.scoped(() -> {
            state.cache.reserve(tokens.length);
            NDArray x = run(embed(tokens, start), state.cross.keys, state.cross.values,
                    (a, h, layer) -> selfAttention(a, h, layer, start, state.cache));
            if (!allPositions) {
                x = x.get(new NDIndex("{}:", tokens.length - 1));
            }
            return logits(x);
        });
        state.cache.advance(tokens);
        return logits;
    }

    /** The reference: all tokens at positions 0.., cross K/V from encoderOut, no cache. float32 [n, nVocab]. */
    public NDArray forward(long[] tokens, NDArray encoderOut) {
        checkEncoderOut(encoderOut);
        checkPositions(0, tokens.length);
        return Ops.scoped(() -> {
            NDArray xa = encoderOut.toType(type, false);
            NDArray[] keys = new NDArray[blocks.size()];
            NDArray[] values = new NDArray[blocks.size()];
            for (int i = 0; i < blocks.size(); i++) {
                NDArray[] kv = crossKeysAndValues(blocks.get(i).crossAttn, xa);
                keys[i] = kv[0];
                values[i] = kv[1];
            }
            return logits(run(embed(tokens, 0), keys, values, (a, h, layer) -> selfAttention(a, h, layer, 0, null)));
        });
    }

    /** Token embeddings plus the learned positions start..start+n-1. */
    private NDArray embed(long[] tokens, long start) {
        return embed(tokens, start, tokens.length);
    }

    /** Token embeddings plus the learned positions start..start+positions-1 (one position: every token there). */
    private NDArray embed(long[] tokens, long start, int positions) {
        for (long t : tokens) {
            if (t < 0 || t >= dims.nVocab()) {
                throw new IllegalArgumentException("token " + t + " outside n_vocab " + dims.nVocab());
            }
        }
        NDArray ids = manager.create(tokens);
        NDArray rows = positionalEmbedding.get(new NDIndex("{}:{}", start, start + positions));
        return Ops.embedding(ids, tokenEmbedding).add(rows);
    }

    /** How a forward's rows attend to their own earlier positions: one sequence's cache, or the beams' rows. */
    private interface SelfAttention {
        NDArray attend(Attention a, NDArray h, int layer);
    }

    /**
     * The blocks over x [n, dim]: n positions of one sequence, or one position of each of n beams (the
     * cross-attention is the same either way: every row's query against the one utterance's keys).
     */
    private NDArray run(NDArray x, NDArray[] crossKeys, NDArray[] crossValues, SelfAttention self) {
        for (int i = 0; i < blocks.size(); i++) {
            Block b = blocks.get(i);
            // causal self-attention over this and the earlier positions
            x = x.add(self.attend(b.attn, Ops.layerNorm(x, b.attnLnWeight, b.attnLnBias, LN_EPS), i));
            // cross-attention over the whole utterance
            NDArray q = heads(Ops.linear(Ops.layerNorm(x, b.crossAttnLnWeight, b.crossAttnLnBias, LN_EPS),
                    b.crossAttn.query, b.crossAttn.queryBias)).mul(scale());
            x = x.add(Ops.linear(Ops.attention(q, crossKeys[i], crossValues[i], 1.0, false, 0), b.crossAttn.out,
                    b.crossAttn.outBias));
            // Linear-GELU-Linear
            NDArray h = Ops.layerNorm(x, b.mlpLnWeight, b.mlpLnBias, LN_EPS);
            x = x.add(Ops.linear(Ops.gelu(Ops.linear(h, b.mlp0, b.mlp0Bias)), b.mlp2, b.mlp2Bias));
        }
        // final LayerNorm
        return Ops.layerNorm(x, lnWeight, lnBias, LN_EPS);
    }

    /** q and k each scaled by d_head^-0.25 as in openai/whisper; k and v appended to the cache if any. */
    private NDArray selfAttention(Attention a, NDArray h, int layer, long start, KvCache cache) {
        NDArray q = heads(Ops.linear(h, a.query, a.queryBias)).mul(scale());
        NDArray k = heads(Ops.linear(h, a.key)).mul(scale());
        NDArray v = heads(Ops.linear(h, a.value, a.valueBias));
        if (cache != null) {
            NDArray[] all = cache.append(layer, k, v);
            k = all[0];
            v = all[1];
        }
        return Ops.linear(Ops.attention(q, k, v, 1.0, true, start), a.out, a.outBias);
    }

    /** Cross-attention keys (scaled) and values of one block: [heads, frames, headDim] each. */
    private NDArray[] crossKeysAndValues(Attention a, NDArray xa) {
        NDArray k = heads(Ops.linear(xa, a.key)).mul(scale());
        NDArray v = heads(Ops.linear(xa, a.value, a.valueBias));
        return new NDArray[] {k, v};
    }

    /** Tied output projection: x · token_embedding^T, as float32. */
    private NDArray logits(NDArray x) {
        return Ops.linear(x, tokenEmbedding).toType(DataType.FLOAT32, false);
    }

    /** [n, dim] -> [heads, n, headDim]. */
    private NDArray heads(NDArray x) {
        long n = x.getShape().get(0);
        return x.reshape(n, dims.nTextHead(), headDim()).transpose(1, 0, 2);
    }

    private int headDim() {
        return dims.nTextState() / dims.nTextHead();
    }

    private double scale() {
        return Math.pow(headDim(), -0.25);
    }

    private void checkPositions(long start, int count) {
        if (count == 0) {
            throw new IllegalArgumentException("no tokens to decode");
        }
        if (start + count > dims.nTextCtx()) {
            throw new IllegalArgumentException("positions " + start + ".." + (start + count - 1)
                    + " exceed the decoder's n_text_ctx " + dims.nTextCtx());
        }
    }

    private void checkEncoderOut(NDArray encoderOut) {
        var s = encoderOut.getShape();
        if (s.dimension() != 2 || s.get(1) != dims.nTextState() || s.get(0) < 1) {
            throw new IllegalArgumentException("encoder output must be [frames, " + dims.nTextState() + "], got "
                    + s);
        }
    }
}
