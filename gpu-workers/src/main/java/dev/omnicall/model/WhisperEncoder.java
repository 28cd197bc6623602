package dev.omnicall.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import dev.omnicall.model.config.SpeechBlocksConfig;
import dev.omnicall.model.io.TensorSource;
import java.util.ArrayList;
import java.util.List;

/**
 * Whisper-large-v3's audio encoder (paper §2.2): two convolutions with GELU (the second halves the frame
 * rate), sinusoidal positions, pre-LN transformer blocks with bidirectional attention, final LayerNorm.
 * Weights under {@code model.speech_encoder.} with openai's names.
 */
public final class WhisperEncoder {
    public static final String PREFIX = "model.speech_encoder.";
    private static final double LN_EPS = 1e-5;

    final NDArray conv1Weight; // [dim, nMels, 3]
    final NDArray conv1Bias; // [dim]
    final NDArray conv2Weight; // [dim, dim, 3]
    final NDArray conv2Bias; // [dim]
    final NDArray positionalEmbedding; // [nCtx, dim]
    final List<Block> blocks; // speech_encoder_num_layers
    final NDArray lnPostWeight; // [dim]
    final NDArray lnPostBias; // [dim]
    private final int heads;
    private final int dim;

    /** One residual attention block. */
    static final class Block {
        final NDArray attnLnWeight; // [dim]
        final NDArray attnLnBias; // [dim]
        final NDArray query; // [dim, dim]
        final NDArray queryBias; // [dim]
        final NDArray key; // [dim, dim], no bias
        final NDArray value; // [dim, dim]
        final NDArray valueBias; // [dim]
        final NDArray out; // [dim, dim]
        final NDArray outBias; // [dim]
        final NDArray mlpLnWeight; // [dim]
        final NDArray mlpLnBias; // [dim]
        final NDArray mlp0; // [4*dim, dim]
        final NDArray mlp0Bias; // [4*dim]
        final NDArray mlp2; // [dim, 4*dim]
        final NDArray mlp2Bias; // [dim]

        Block(TensorSource src, NDManager m, DataType t, String p, int dim) {
            attnLnWeight = src.load(m, p + "attn_ln.weight", t, dim);
            attnLnBias = src.load(m, p + "attn_ln.bias", t, dim);
            query = src.load(m, p + "attn.query.weight", t, dim, dim);
            queryBias = src.load(m, p + "attn.query.bias", t, dim);
            key = src.load(m, p + "attn.key.weight", t, dim, dim);
            value = src.load(m, p + "attn.value.weight", t, dim, dim);
            valueBias = src.load(m, p + "attn.value.bias", t, dim);
            out = src.load(m, p + "attn.out.weight", t, dim, dim);
            outBias = src.load(m, p + "attn.out.bias", t, dim);
            mlpLnWeight = src.load(m, p + "mlp_ln.weight", t, dim);
            mlpLnBias = src.load(m, p + "mlp_ln.bias", t, dim);
            mlp0 = src.load(m, p + "mlp.0.weight", t, 4L * dim, dim);
            mlp0Bias = src.load(m, p + "mlp.0.bias", t, 4L * dim);
            mlp2 = src.load(m, p + "mlp.2.weight", t, dim, 4L * dim);
            mlp2Bias = src.load(m, p + "mlp.2.bias", t, dim);
        }
    }

    public WhisperEncoder(TensorSource src, NDManager m, DataType t, SpeechBlocksConfig c, int nMels) {
        this.dim = c.speechEncoderHiddenSize();
        this.heads = c.speechEncoderNumHeads();
        conv1Weight = src.load(m, PREFIX + "conv1.weight", t, dim, nMels, 3);
        conv1Bias = src.load(m, PREFIX + "conv1.bias", t, dim);
        conv2Weight = src.load(m, PREFIX + "conv2.weight", t, dim, dim, 3);
        conv2Bias = src.load(m, PREFIX + "conv2.bias", t, dim);
        var posInfo = src.info(PREFIX + "positional_embedding");
        long nCtx = posInfo == null ? 1500 : posInfo.shape()[0];
        positionalEmbedding = src.load(m, PREFIX + "positional_embedding", t, nCtx, dim);
        blocks = new ArrayList<>();
        for (int i = 0; i < c.speechEncoderNumLayers(); i++) {
            blocks.add(new Block(src, m, t, PREFIX + "blocks." + i + ".", dim));
        }
        lnPostWeight = src.load(m, PREFIX + "ln_post.weight", t, dim);
        lnPostBias = src.load(m, PREFIX + "ln_post.bias", t, dim);
    }

    /** Encoder frames (the output's rows) for a log-mel of {@code melFrames}: conv2's kernel 3, stride 2, padding 1. */
    public static long framesFor(long melFrames) {
        return (melFrames + 2 - 3) / 2 + 1;
    }

    /** Frames the positional table allows (1500 = 30 s). */
    public long maxFrames() {
        return positionalEmbedding.getShape().get(0);
    }

    /** log-mel [nMels, F] -> encoder states [F/2, dim]. */
    public NDArray forward(NDArray mel) {
        try (Pass pass = begin(mel)) {
            pass.advanceBlocks(Integer.MAX_VALUE);
            NDArray out = pass.take();
            NDScope.register(out);
            return out;
        }
    }

    /**
     * The encoder run in slices (a newcomer's chunked prefill, issue 14 item 3): the convolutions and the positions
     * now, the blocks in {@link Pass#advanceBlocks} or {@link Pass#advanceRows} slices, {@code ln_post} after the last
     * one. Whole blocks are the same operations on the same shapes as {@link #forward}, so the same floats to the bit;
     * slices of rows multiply fewer rows at a time, which the BLAS may sum in another order (tested against the whole
     * forward within float32 rounding).
     */
    public Pass begin(NDArray mel) {
        return new Pass(mel);
    }

    /** Blocks in the encoder. */
    public int blockCount() {
        return blocks.size();
    }

    /**
     * One run of the encoder over one input, advanced in slices of whole blocks or of "block-rows". Attention needs
     * every row's key and value, so a block runs in two parts: (1) the keys and values of all its rows (after the
     * attention LayerNorm), a range of rows at a time; (2) for a range of query rows: the query, attention over all
     * keys and values, the out-projection and residual, the MLP and residual. Ranges are independent once (1) is done,
     * so a slice may stop after any row. A block is {@code frames} block-rows of work; a row's key and value count
     * {@link #keyValueShare()} of its block-row (their multiply-adds against the row's whole block), the rest is its
     * query part. Not thread-safe.
     */
    public final class Pass implements AutoCloseable {
        private NDArray x; // [frames, dim]: the input of block `next` (after ln_post once done); in no NDScope
        private final long frames;
        private final double keyValueShare;
        private int next; // the block in progress (or the first not run)
        private long keyValueRows; // rows of block `next` whose keys and values are computed
        private long queryRows; // rows of block `next` whose output is computed
        private final List<NDArray> keyParts = new ArrayList<>(); // [rows, dim] each, until all rows are in
        private final List<NDArray> valueParts = new ArrayList<>();
        private NDArray keys; // [heads, frames, headDim], scaled, once all rows are in
        private NDArray values; // [heads, frames, headDim]
        private final List<NDArray> outParts = new ArrayList<>(); // [rows, dim]: block `next`'s output rows so far
        private boolean done;

        private Pass(NDArray mel) {
            try (NDScope scope = new NDScope()) {
                scope.suppressNotUsedWarning();
                // conv1 + GELU, conv2 (stride 2) + GELU
                NDArray h = mel.toType(conv1Weight.getDataType(), false).expandDims(0);
                h = Ops.gelu(Ops.conv1d(h, conv1Weight, conv1Bias, 1, 1, 1));
                h = Ops.gelu(Ops.conv1d(h, conv2Weight, conv2Bias, 2, 1, 1));
                // frames first, plus sinusoidal positions
                h = h.squeeze(0).transpose(1, 0);
                frames = h.getShape().get(0);
                if (frames > maxFrames()) {
                    throw new IllegalArgumentException("encoder input of " + frames + " frames exceeds the "
                            + maxFrames() + " positions of the checkpoint");
                }
                x = h.add(positionalEmbedding.get(new NDIndex(":{}", frames)));
                NDScope.unregister(x);
            }
            // per row: key + value 2 dim^2 multiply-adds; query, out 2 dim^2, MLP 8 dim^2, attention 2 frames*dim
            keyValueShare = dim / (6.0 * dim + frames);
        }

        /** Encoder frames (the output's rows), known from the start. */
        public long frames() {
            return frames;
        }

        /** Blocks not finished (the one in progress included). */
        public int blocksLeft() {
            return blocks.size() - next;
        }

        /** The share of a block-row that is the row's key and value (the rest is its query part). */
        public double keyValueShare() {
            return keyValueShare;
        }

        /** Work left in block-rows: {@code frames} per block not run, less what of the current block is done. */
        public double blockRowsLeft() {
            if (done) {
                return 0;
            }
            double doneInBlock = keyValueRows * keyValueShare + queryRows * (1 - keyValueShare);
            return Math.max(0, (blocks.size() - next) * (double) frames - doneInBlock);
        }

        /**
         * Runs up to {@code maxBlocks} (≥ 1) more blocks (finishing the one in progress counts as one), and the final
         * LayerNorm after the last; true once done.
         */
        public boolean advanceBlocks(int maxBlocks) {
            if (maxBlocks < 1) {
                throw new IllegalArgumentException("an encoder slice needs at least 1 block, got " + maxBlocks);
            }
            int to = (int) Math.min(blocks.size(), (long) next + maxBlocks);
            return run(Double.POSITIVE_INFINITY, to);
        }

        /**
         * Runs at most {@code blockRows} (≥ 1) more block-rows of work, cut at any row (at least one row of keys and
         * values or of queries, whatever the budget), and the final LayerNorm after the last block; true once done.
         */
        public boolean advanceRows(long blockRows) {
            if (blockRows < 1) {
                throw new IllegalArgumentException("an encoder slice needs at least 1 block-row, got " + blockRows);
            }
            return run(blockRows, blocks.size());
        }

        private boolean run(double budget, int stopBefore) {
            if (x == null) {
                throw new IllegalStateException("the encoder pass was taken or closed");
            }
            boolean ran = false;
            while (!done && next < stopBefore) {
                Block b = blocks.get(next);
                boolean keysAndValues = keyValueRows < frames;
                double share = keysAndValues ? keyValueShare : 1 - keyValueShare;
                long left = frames - (keysAndValues ? keyValueRows : queryRows);
                long rows = Double.isInfinite(budget) ? left : (long) Math.min(left, Math.floor(budget / share + 1e-9));
                if (rows == 0) {
                    if (ran) {
                        break;
                    }
                    rows = 1; // a slice always moves
                }
                if (keysAndValues) {
                    keysAndValues(b, keyValueRows, keyValueRows + rows);
                    keyValueRows += rows;
                } else {
                    queries(b, queryRows, queryRows + rows);
                    queryRows += rows;
                }
                budget -= rows * share;
                ran = true;
                if (queryRows == frames) {
                    endBlock();
                }
            }
            return done;
        }

        /** Step (1) for rows [from, to): their keys and values from the attention LayerNorm of the block's input. */
        private void keysAndValues(Block b, long from, long to) {
            try (NDScope scope = new NDScope()) {
                scope.suppressNotUsedWarning();
                NDArray h = Ops.layerNorm(rows(x, from, to), b.attnLnWeight, b.attnLnBias, LN_EPS);
                NDArray k = Ops.linear(h, b.key);
                NDArray v = Ops.linear(h, b.value, b.valueBias);
                NDScope.unregister(k, v);
                keyParts.add(k);
                valueParts.add(v);
            }
            if (to == frames) {
                // all rows in: heads first, q and k each scaled by d_head^-0.25 as in openai/whisper
                try (NDScope scope = new NDScope()) {
                    scope.suppressNotUsedWarning();
                    int headDim = dim / heads;
                    NDArray k = concatRows(keyParts);
                    NDArray v = concatRows(valueParts);
                    keys = k.reshape(frames, heads, headDim).transpose(1, 0, 2).mul(Math.pow(headDim, -0.25));
                    values = v.reshape(frames, heads, headDim).transpose(1, 0, 2);
                    NDScope.unregister(keys, values);
                }
                closeAll(keyParts);
                closeAll(valueParts);
            }
        }

        /** Step (2) for query rows [from, to): attention over every row, out-projection, MLP, both residuals. */
        private void queries(Block b, long from, long to) {
            try (NDScope scope = new NDScope()) {
                scope.suppressNotUsedWarning();
                long n = to - from;
                int headDim = dim / heads;
                NDArray y = rows(x, from, to);
                NDArray h = Ops.layerNorm(y, b.attnLnWeight, b.attnLnBias, LN_EPS);
                NDArray q = Ops.linear(h, b.query, b.queryBias).reshape(n, heads, headDim).transpose(1, 0, 2)
                        .mul(Math.pow(headDim, -0.25));
                NDArray attn = Ops.attention(q, keys, values, 1.0, false, 0);
                y = y.add(Ops.linear(attn, b.out, b.outBias));
                NDArray m = Ops.layerNorm(y, b.mlpLnWeight, b.mlpLnBias, LN_EPS);
                y = y.add(Ops.linear(Ops.gelu(Ops.linear(m, b.mlp0, b.mlp0Bias)), b.mlp2, b.mlp2Bias));
                NDScope.unregister(y);
                outParts.add(y);
            }
        }

        /** The block's output rows become the next block's input; ln_post after the last block. */
        private void endBlock() {
            NDArray y;
            try (NDScope scope = new NDScope()) {
                scope.suppressNotUsedWarning();
                y = concatRows(outParts);
                next++;
                if (next == blocks.size()) {
                    // final LayerNorm
                    y = Ops.layerNorm(y, lnPostWeight, lnPostBias, LN_EPS);
                    done = true;
                }
                NDScope.unregister(y);
            }
            closeAll(outParts);
            keys.close();
            values.close();
            keys = null;
            values = null;
            keyValueRows = 0;
            queryRows = 0;
            if (y != x) {
                x.close();
                x = y;
            }
        }

        /** The encoder states [frames, dim] once done; the caller owns them (in no NDScope). */
        public NDArray take() {
            if (!done || x == null) {
                throw new IllegalStateException("the encoder pass is not finished: " + blocksLeft() + " blocks left");
            }
            NDArray out = x;
            x = null;
            return out;
        }

        @Override
        public void close() {
            closeAll(keyParts);
            closeAll(valueParts);
            closeAll(outParts);
            for (NDArray a : new NDArray[] {keys, values, x}) {
                if (a != null) {
                    a.close();
                }
            }
            keys = null;
            values = null;
            x = null;
        }

        /** Rows [from, to) of a [frames, dim] array; the array itself when that is all of it (the whole forward). */
        private NDArray rows(NDArray a, long from, long to) {
            return from == 0 && to == frames ? a : a.get(new NDIndex("{}:{}", from, to));
        }
    }

    /** Parts of rows in order as one array; a single part as it is (kept by the caller's scope either way). */
    private static NDArray concatRows(List<NDArray> parts) {
        if (parts.size() == 1) {
            NDArray only = parts.get(0);
            parts.clear();
            NDScope.register(only);
            return only;
        }
        return NDArrays.concat(new NDList(parts), 0);
    }

    private static void closeAll(List<NDArray> parts) {
        parts.forEach(NDArray::close);
        parts.clear();
    }
}
