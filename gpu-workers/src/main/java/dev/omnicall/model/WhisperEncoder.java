package dev.omnicall.model;

import ai.djl.ndarray.NDArray;
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

    /** Frames the positional table allows (1500 = 30 s). */
    public long maxFrames() {
        return positionalEmbedding.getShape().get(0);
    }

    /** log-mel [nMels, F] -> encoder states [F/2, dim]. */
    public NDArray forward(NDArray mel) {
        try (Pass pass = begin(mel)) {
            pass.advance(Integer.MAX_VALUE);
            NDArray out = pass.take();
            NDScope.register(out);
            return out;
        }
    }

    /**
     * The encoder run a few blocks at a time (a newcomer's chunked prefill, issue 14 item 3): the convolutions and the
     * positions now, the blocks in {@link Pass#advance} slices, {@code ln_post} after the last one. The same operations
     * in the same order as {@link #forward}, so the output is the same to the bit (tested).
     */
    public Pass begin(NDArray mel) {
        return new Pass(mel);
    }

    /** Blocks in the encoder. */
    public int blockCount() {
        return blocks.size();
    }

    /** One run of the encoder over one input, advanced in slices of blocks. Not thread-safe. */
    public final class Pass implements AutoCloseable {
        private NDArray x; // [frames, dim]: after the blocks run so far (after ln_post once done); not in any NDScope
        private final long frames;
        private int next; // the first block not yet run
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
        }

        /** Encoder frames (the output's rows), known from the start. */
        public long frames() {
            return frames;
        }

        /** Blocks still to run. */
        public int blocksLeft() {
            return blocks.size() - next;
        }

        /** Runs up to {@code maxBlocks} (≥ 1) more blocks, and the final LayerNorm after the last; true once done. */
        public boolean advance(int maxBlocks) {
            if (maxBlocks < 1) {
                throw new IllegalArgumentException("an encoder slice needs at least 1 block, got " + maxBlocks);
            }
            if (x == null) {
                throw new IllegalStateException("the encoder pass was taken or closed");
            }
            if (done) {
                return true;
            }
            int to = (int) Math.min(blocks.size(), (long) next + maxBlocks);
            NDArray y;
            try (NDScope scope = new NDScope()) {
                scope.suppressNotUsedWarning();
                y = x;
                // pre-LN residual blocks
                for (int i = next; i < to; i++) {
                    Block b = blocks.get(i);
                    y = y.add(attention(b, Ops.layerNorm(y, b.attnLnWeight, b.attnLnBias, LN_EPS)));
                    NDArray h = Ops.layerNorm(y, b.mlpLnWeight, b.mlpLnBias, LN_EPS);
                    y = y.add(Ops.linear(Ops.gelu(Ops.linear(h, b.mlp0, b.mlp0Bias)), b.mlp2, b.mlp2Bias));
                }
                // final LayerNorm
                if (to == blocks.size()) {
                    y = Ops.layerNorm(y, lnPostWeight, lnPostBias, LN_EPS);
                    done = true;
                }
                NDScope.unregister(y);
            }
            if (y != x) {
                x.close();
                x = y;
            }
            next = to;
            return done;
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
            if (x != null) {
                x.close();
                x = null;
            }
        }
    }

    /** Bidirectional multi-head attention; q and k each scaled by d_head^-0.25 as in openai/whisper. */
    private NDArray attention(Block b, NDArray x) {
        long t = x.getShape().get(0);
        int headDim = dim / heads;
        double scale = Math.pow(headDim, -0.25);
        NDArray q = Ops.linear(x, b.query, b.queryBias).reshape(t, heads, headDim).transpose(1, 0, 2).mul(scale);
        NDArray k = Ops.linear(x, b.key).reshape(t, heads, headDim).transpose(1, 0, 2).mul(scale);
        NDArray v = Ops.linear(x, b.value, b.valueBias).reshape(t, heads, headDim).transpose(1, 0, 2);
        NDArray attn = Ops.attention(q, k, v, 1.0, false, 0);
        return Ops.linear(attn, b.out, b.outBias);
    }
}
