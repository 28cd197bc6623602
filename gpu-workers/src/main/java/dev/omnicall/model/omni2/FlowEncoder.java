package dev.omnicall.model.omni2;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.omnicall.model.Ops;
import dev.omnicall.model.io.TensorSource;
import java.util.ArrayList;
import java.util.List;

/**
 * Speech tokens → mu, the flow's conditioning mel (CosyVoice2's {@code input_embedding} +
 * {@code UpsampleConformerEncoder} + {@code encoder_proj}; flow.pt names, no prefix):
 * <ol>
 * <li>embed the tokens, Linear + LayerNorm (1e-5), × √dim, relative sinusoids for the positions;</li>
 * <li>pre-lookahead: conv k(lookahead+1) over the next tokens, leaky ReLU 0.01, causal conv k3, + input;</li>
 * <li>conformer layers (pre-LN 1e-12; ESPnet relative-position attention with pos_bias_u/v; SiLU FFN;
 * attention in chunks of {@code chunkTokens}, every earlier chunk visible);</li>
 * <li>up layer: nearest ×2, left-pad 4, conv k5; then the same embed and layers at the mel rate with
 * chunks twice as long;</li>
 * <li>after_norm (1e-5), encoder_proj → [80, 2N].</li>
 * </ol>
 * Float32. Batch of one, no padding: the reference's pad mask is all ones then.
 */
public final class FlowEncoder {
    private static final double EMBED_LN_EPS = 1e-5;
    private static final double LAYER_LN_EPS = 1e-12;
    private static final float LOOKAHEAD_SLOPE = 0.01f;

    final NDArray inputEmbedding; // [vocab, dim]
    final Embed embed;
    final NDArray lookaheadConv1; // [dim, dim, lookahead+1]
    final NDArray lookaheadConv1Bias; // [dim]
    final NDArray lookaheadConv2; // [dim, dim, 3]
    final NDArray lookaheadConv2Bias; // [dim]
    final List<ConformerLayer> encoders;
    final NDArray upConv; // [dim, dim, 2·stride+1]
    final NDArray upConvBias; // [dim]
    final Embed upEmbed;
    final List<ConformerLayer> upEncoders;
    final NDArray afterNormWeight; // [dim]
    final NDArray afterNormBias; // [dim]
    final NDArray proj; // [melBins, dim]
    final NDArray projBias; // [melBins]
    private final FlowEncoderConfig config;
    private final NDManager manager;

    /** LinearNoSubsampling: Linear, LayerNorm, then × √dim (the positional encoding's scale). */
    static final class Embed {
        final NDArray weight; // [dim, dim]
        final NDArray bias; // [dim]
        final NDArray lnWeight; // [dim]
        final NDArray lnBias; // [dim]
        final float scale;

        Embed(TensorSource src, NDManager m, String p, int dim) {
            weight = src.load(m, p + ".out.0.weight", DataType.FLOAT32, dim, dim);
            bias = src.load(m, p + ".out.0.bias", DataType.FLOAT32, dim);
            lnWeight = src.load(m, p + ".out.1.weight", DataType.FLOAT32, dim);
            lnBias = src.load(m, p + ".out.1.bias", DataType.FLOAT32, dim);
            scale = (float) Math.sqrt(dim);
        }

        NDArray forward(NDArray x) {
            return Ops.layerNorm(Ops.linear(x, weight, bias), lnWeight, lnBias, EMBED_LN_EPS).mul(scale);
        }
    }

    /** A conformer layer without macaron FFN or conv module: pre-LN rel-pos self-attention, pre-LN FFN. */
    static final class ConformerLayer {
        final NDArray normMhaWeight; // [dim]
        final NDArray normMhaBias; // [dim]
        final NDArray wq; // [dim, dim]
        final NDArray bq; // [dim]
        final NDArray wk; // [dim, dim]
        final NDArray bk; // [dim]
        final NDArray wv; // [dim, dim]
        final NDArray bv; // [dim]
        final NDArray wo; // [dim, dim]
        final NDArray bo; // [dim]
        final NDArray wPos; // [dim, dim], no bias
        final NDArray posBiasU; // [heads, 1, headDim]
        final NDArray posBiasV; // [heads, 1, headDim]
        final NDArray normFfWeight; // [dim]
        final NDArray normFfBias; // [dim]
        final NDArray w1; // [ffn, dim]
        final NDArray b1; // [ffn]
        final NDArray w2; // [dim, ffn]
        final NDArray b2; // [dim]
        final int heads;
        final int headDim;

        ConformerLayer(TensorSource src, NDManager m, String p, FlowEncoderConfig c) {
            DataType f = DataType.FLOAT32;
            int d = c.dim();
            heads = c.heads();
            headDim = c.headDim();
            normMhaWeight = src.load(m, p + ".norm_mha.weight", f, d);
            normMhaBias = src.load(m, p + ".norm_mha.bias", f, d);
            wq = src.load(m, p + ".self_attn.linear_q.weight", f, d, d);
            bq = src.load(m, p + ".self_attn.linear_q.bias", f, d);
            wk = src.load(m, p + ".self_attn.linear_k.weight", f, d, d);
            bk = src.load(m, p + ".self_attn.linear_k.bias", f, d);
            wv = src.load(m, p + ".self_attn.linear_v.weight", f, d, d);
            bv = src.load(m, p + ".self_attn.linear_v.bias", f, d);
            wo = src.load(m, p + ".self_attn.linear_out.weight", f, d, d);
            bo = src.load(m, p + ".self_attn.linear_out.bias", f, d);
            wPos = src.load(m, p + ".self_attn.linear_pos.weight", f, d, d);
            posBiasU = src.load(m, p + ".self_attn.pos_bias_u", f, heads, headDim).reshape(heads, 1, headDim);
            posBiasV = src.load(m, p + ".self_attn.pos_bias_v", f, heads, headDim).reshape(heads, 1, headDim);
            normFfWeight = src.load(m, p + ".norm_ff.weight", f, d);
            normFfBias = src.load(m, p + ".norm_ff.bias", f, d);
            w1 = src.load(m, p + ".feed_forward.w_1.weight", f, c.ffnDim(), d);
            b1 = src.load(m, p + ".feed_forward.w_1.bias", f, c.ffnDim());
            w2 = src.load(m, p + ".feed_forward.w_2.weight", f, d, c.ffnDim());
            b2 = src.load(m, p + ".feed_forward.w_2.bias", f, d);
        }

        /** x [T, dim], positions [2T−1, dim] (relative T−1 … −(T−1)), mask [T, T] additive. */
        NDArray forward(NDArray x, NDArray positions, NDArray mask) {
            long t = x.getShape().get(0);
            // self-attention with relative positions, pre-LN, residual
            NDArray h = Ops.layerNorm(x, normMhaWeight, normMhaBias, LAYER_LN_EPS);
            NDArray q = heads(Ops.linear(h, wq, bq), t);
            NDArray k = heads(Ops.linear(h, wk, bk), t);
            NDArray v = heads(Ops.linear(h, wv, bv), t);
            NDArray p = heads(Ops.linear(positions, wPos, null), 2 * t - 1);
            // content term (q + u)·k and position term (q + v)·p, the latter shifted to query − key
            NDArray ac = q.add(posBiasU).matMul(k.transpose(0, 2, 1)); // [H, T, T]
            NDArray bd = relShift(q.add(posBiasV).matMul(p.transpose(0, 2, 1))); // [H, T, 2T-1] -> [H, T, T]
            NDArray scores = ac.add(bd).div((float) Math.sqrt(headDim)).add(mask);
            NDArray attended = scores.softmax(-1).matMul(v).transpose(1, 0, 2).reshape(t, (long) heads * headDim);
            x = x.add(Ops.linear(attended, wo, bo));
            // feed-forward, pre-LN, residual
            h = Ops.layerNorm(x, normFfWeight, normFfBias, LAYER_LN_EPS);
            return x.add(Ops.linear(Ops.silu(Ops.linear(h, w1, b1)), w2, b2));
        }

        private NDArray heads(NDArray x, long rows) {
            return x.reshape(rows, heads, headDim).transpose(1, 0, 2);
        }

        /** The same over a batch: x [B, T, dim], positions [2T−1, dim], mask [B, 1, T, T] additive. */
        NDArray forwardAll(NDArray x, NDArray positions, NDArray mask) {
            long b = x.getShape().get(0);
            long t = x.getShape().get(1);
            // self-attention with relative positions, pre-LN, residual
            NDArray h = Ops.layerNorm(x, normMhaWeight, normMhaBias, LAYER_LN_EPS);
            NDArray q = batchHeads(Ops.linear(h, wq, bq), b, t);
            NDArray k = batchHeads(Ops.linear(h, wk, bk), b, t);
            NDArray v = batchHeads(Ops.linear(h, wv, bv), b, t);
            NDArray p = heads(Ops.linear(positions, wPos, null), 2 * t - 1); // [H, 2T-1, d], shared by the rows
            NDArray ac = q.add(posBiasU).matMul(k.transpose(0, 1, 3, 2)); // [B, H, T, T]
            NDArray bd = relShiftAll(q.add(posBiasV).matMul(p.transpose(0, 2, 1))); // [B, H, T, T]
            NDArray scores = ac.add(bd).div((float) Math.sqrt(headDim)).add(mask);
            NDArray attended = scores.softmax(-1).matMul(v).transpose(0, 2, 1, 3).reshape(b, t, (long) heads * headDim);
            x = x.add(Ops.linear(attended, wo, bo));
            // feed-forward, pre-LN, residual
            h = Ops.layerNorm(x, normFfWeight, normFfBias, LAYER_LN_EPS);
            return x.add(Ops.linear(Ops.silu(Ops.linear(h, w1, b1)), w2, b2));
        }

        private NDArray batchHeads(NDArray x, long b, long rows) {
            return x.reshape(b, rows, heads, headDim).transpose(0, 2, 1, 3);
        }
    }

    public FlowEncoder(TensorSource src, NDManager m, FlowEncoderConfig c) {
        this.config = c;
        this.manager = m;
        DataType f = DataType.FLOAT32;
        int d = c.dim();
        inputEmbedding = src.load(m, "input_embedding.weight", f, c.vocabSize(), d);
        embed = new Embed(src, m, "encoder.embed", d);
        lookaheadConv1 = src.load(m, "encoder.pre_lookahead_layer.conv1.weight", f, d, d, c.lookahead() + 1);
        lookaheadConv1Bias = src.load(m, "encoder.pre_lookahead_layer.conv1.bias", f, d);
        lookaheadConv2 = src.load(m, "encoder.pre_lookahead_layer.conv2.weight", f, d, d, 3);
        lookaheadConv2Bias = src.load(m, "encoder.pre_lookahead_layer.conv2.bias", f, d);
        encoders = new ArrayList<>();
        for (int i = 0; i < c.blocks(); i++) {
            encoders.add(new ConformerLayer(src, m, "encoder.encoders." + i, c));
        }
        upConv = src.load(m, "encoder.up_layer.conv.weight", f, d, d, 2L * c.upStride() + 1);
        upConvBias = src.load(m, "encoder.up_layer.conv.bias", f, d);
        upEmbed = new Embed(src, m, "encoder.up_embed", d);
        upEncoders = new ArrayList<>();
        for (int i = 0; i < c.upBlocks(); i++) {
            upEncoders.add(new ConformerLayer(src, m, "encoder.up_encoders." + i, c));
        }
        afterNormWeight = src.load(m, "encoder.after_norm.weight", f, d);
        afterNormBias = src.load(m, "encoder.after_norm.bias", f, d);
        proj = src.load(m, "encoder_proj.weight", f, c.melBins(), d);
        projBias = src.load(m, "encoder_proj.bias", f, c.melBins());
    }

    public FlowEncoderConfig config() {
        return config;
    }

    /** Speech tokens [N] → mu [melBins, upStride·N] (the whole reply, as {@code finalize=True}). */
    public NDArray forward(NDManager scope, long[] tokens) {
        return forward(scope, tokens, 0);
    }

    /**
     * A window of the reply: tokens [N] that sit at {@code firstToken}.. of the reply → mu [melBins,
     * upStride·N]. The attention chunks stay where they are in the whole reply (chunk borders at multiples
     * of the chunk counted from the reply's start); what lies before the window is not seen: its tokens
     * are absent from attention and the convolutions' left context is zeros there (the streaming decoder's
     * approximation, exact when {@code firstToken} is 0). The pre-lookahead's right context is zeros
     * after the window's last token, as at the end of a whole reply.
     */
    public NDArray forward(NDManager scope, long[] tokens, long firstToken) {
        for (long token : tokens) {
            if (token < 0 || token >= config.vocabSize()) {
                throw new IllegalArgumentException("speech token " + token + " outside 0.." + (config.vocabSize() - 1));
            }
        }
        int n = tokens.length;
        // embed, Linear + LayerNorm, × √dim
        NDArray x = embed.forward(Ops.embedding(scope.create(tokens), inputEmbedding));
        // pre-lookahead over the next tokens, + residual
        x = lookahead(x);
        // conformer layers in token-rate chunks
        NDArray positions = relativePositions(scope, n, config.dim());
        NDArray mask = chunkMask(scope, n, config.chunkTokens(), firstToken);
        for (ConformerLayer layer : encoders) {
            x = layer.forward(x, positions, mask);
        }
        // ×2 up to the mel rate, embed again, conformer layers in mel-rate chunks
        x = upsample(x);
        x = upEmbed.forward(x);
        long frames = x.getShape().get(0);
        positions = relativePositions(scope, frames, config.dim());
        mask = chunkMask(scope, frames, (long) config.chunkTokens() * config.upStride(),
                firstToken * config.upStride());
        for (ConformerLayer layer : upEncoders) {
            x = layer.forward(x, positions, mask);
        }
        // after_norm, project to the mel bins
        x = Ops.layerNorm(x, afterNormWeight, afterNormBias, EMBED_LN_EPS);
        return Ops.linear(x, proj, projBias).transpose();
    }

    /**
     * Windows of several replies in one padded forward: {@code windows[i]} sits at {@code firstTokens[i]}.. of its
     * reply, as {@link #forward(NDManager, long[], long)} → mu [B, melBins, upStride·max N], row i's first
     * upStride·N_i frames equal to that row alone (within float rounding) and the rest padding. Rows are padded on the
     * right; what keeps a row from seeing its padding: the pre-lookahead's input is zeroed there (alone it sees zeros
     * after the last token), every other convolution is causal, and attention masks the padded keys.
     */
    public NDArray forwardAll(NDManager scope, List<long[]> windows, long[] firstTokens) {
        int b = windows.size();
        int n = windows.stream().mapToInt(w -> w.length).max().orElseThrow();
        long[] tokens = new long[b * n]; // padding: token 0
        float[] valid = new float[b * n];
        for (int i = 0; i < b; i++) {
            long[] w = windows.get(i);
            for (int j = 0; j < w.length; j++) {
                if (w[j] < 0 || w[j] >= config.vocabSize()) {
                    throw new IllegalArgumentException("speech token " + w[j] + " outside 0.." + (config.vocabSize() - 1));
                }
                tokens[i * n + j] = w[j];
                valid[i * n + j] = 1f;
            }
        }
        // embed, Linear + LayerNorm, × √dim; the padding zeroed for the look-ahead
        NDArray x = embed.forward(Ops.embedding(scope.create(tokens, new Shape(b, n)), inputEmbedding));
        x = x.mul(scope.create(valid, new Shape(b, n, 1)));
        // pre-lookahead over the next tokens, + residual
        x = lookaheadAll(x);
        // conformer layers in token-rate chunks, padded keys masked
        int[] lengths = windows.stream().mapToInt(w -> w.length).toArray();
        NDArray positions = relativePositions(scope, n, config.dim());
        NDArray mask = paddedChunkMask(scope, n, config.chunkTokens(), firstTokens, lengths, 1);
        for (ConformerLayer layer : encoders) {
            x = layer.forwardAll(x, positions, mask);
        }
        // ×2 up to the mel rate (causal), embed again, conformer layers in mel-rate chunks
        int s = config.upStride();
        x = upsampleAll(x);
        x = upEmbed.forward(x);
        long frames = (long) n * s;
        positions = relativePositions(scope, frames, config.dim());
        mask = paddedChunkMask(scope, frames, (long) config.chunkTokens() * s, firstTokens, lengths, s);
        for (ConformerLayer layer : upEncoders) {
            x = layer.forwardAll(x, positions, mask);
        }
        // after_norm, project to the mel bins
        x = Ops.layerNorm(x, afterNormWeight, afterNormBias, EMBED_LN_EPS);
        return Ops.linear(x, proj, projBias).transpose(0, 2, 1);
    }

    /** x [B, N, dim]: {@link #lookahead} over a batch. */
    private NDArray lookaheadAll(NDArray x) {
        NDArray c = x.transpose(0, 2, 1); // [B, dim, N]
        NDArray y = Ops.conv1d(padTime(c, 0, config.lookahead()), lookaheadConv1, lookaheadConv1Bias, 1, 0, 1);
        y = Ops.leakyRelu(y, LOOKAHEAD_SLOPE);
        y = Ops.conv1d(padTime(y, 2, 0), lookaheadConv2, lookaheadConv2Bias, 1, 0, 1);
        return y.transpose(0, 2, 1).add(x);
    }

    /** x [B, N, dim] → [B, stride·N, dim]: {@link #upsample} over a batch. */
    private NDArray upsampleAll(NDArray x) {
        long b = x.getShape().get(0);
        long n = x.getShape().get(1);
        long d = x.getShape().get(2);
        int s = config.upStride();
        NDArray c = x.transpose(0, 2, 1).reshape(b, d, n, 1).tile(new long[] {1, 1, 1, s}).reshape(b, d, n * s);
        return Ops.conv1d(padTime(c, 2 * s, 0), upConv, upConvBias, 1, 0, 1).transpose(0, 2, 1);
    }

    /**
     * [B, 1, T, T] additive: row i's {@link #chunkMask} for rows at {@code scale·firstTokens[i]}.., and its keys from
     * {@code scale·lengths[i]} on (its padding) masked too.
     */
    static NDArray paddedChunkMask(NDManager m, long t, long chunk, long[] firstTokens, int[] lengths, int scale) {
        int b = lengths.length;
        float[] mask = new float[(int) (b * t * t)];
        for (int r = 0; r < b; r++) {
            long first = firstTokens[r] * scale;
            long valid = (long) lengths[r] * scale;
            int base = (int) (r * t * t);
            for (int i = 0; i < t; i++) {
                long end = chunk > 0 ? Math.min(valid, ((first + i) / chunk + 1) * chunk - first) : valid;
                for (long j = end; j < t; j++) {
                    mask[(int) (base + i * t + j)] = Float.NEGATIVE_INFINITY;
                }
            }
        }
        return m.create(mask, new Shape(b, 1, t, t));
    }

    /** x [N, dim]: right-pad lookahead, conv, leaky ReLU 0.01, left-pad 2, conv k3, + x. */
    private NDArray lookahead(NDArray x) {
        NDArray c = x.transpose().expandDims(0); // [1, dim, N]
        NDArray y = Ops.conv1d(padTime(c, 0, config.lookahead()), lookaheadConv1, lookaheadConv1Bias, 1, 0, 1);
        y = Ops.leakyRelu(y, LOOKAHEAD_SLOPE);
        y = Ops.conv1d(padTime(y, 2, 0), lookaheadConv2, lookaheadConv2Bias, 1, 0, 1);
        return y.squeeze(0).transpose().add(x);
    }

    /** x [N, dim] → [stride·N, dim]: nearest repeat, left-pad 2·stride, conv k(2·stride+1). */
    private NDArray upsample(NDArray x) {
        long n = x.getShape().get(0);
        long d = x.getShape().get(1);
        int s = config.upStride();
        NDArray c = x.transpose().reshape(1, d, n, 1).tile(new long[] {1, 1, 1, s}).reshape(1, d, n * s);
        return Ops.conv1d(padTime(c, 2 * s, 0), upConv, upConvBias, 1, 0, 1).squeeze(0).transpose();
    }

    /** Zeros on the time axis of [B, C, T]. */
    private static NDArray padTime(NDArray x, long left, long right) {
        long b = x.getShape().get(0);
        long c = x.getShape().get(1);
        NDArray out = x;
        if (left > 0) {
            out = x.getManager().zeros(new Shape(b, c, left), x.getDataType(), x.getDevice()).concat(out, 2);
        }
        if (right > 0) {
            out = out.concat(x.getManager().zeros(new Shape(b, c, right), x.getDataType(), x.getDevice()), 2);
        }
        return out;
    }

    /**
     * ESPnet's relative sinusoids for T positions: rows for relative positions T−1, …, 0, …, −(T−1), each
     * [sin(r·ω_i), cos(r·ω_i)] interleaved, ω_i = exp(2i · −ln(10⁴)/dim), in float32 arithmetic as torch
     * builds them (r·ω in float: at r in the thousands a double product would differ by 1e-4).
     */
    static NDArray relativePositions(NDManager m, long t, int dim) {
        float step = (float) -(Math.log(10000.0) / dim);
        float[] omega = new float[dim / 2];
        for (int i = 0; i < omega.length; i++) {
            omega[i] = (float) Math.exp((float) (2 * i) * step);
        }
        int rows = (int) (2 * t - 1);
        float[] pe = new float[rows * dim];
        for (int row = 0; row < rows; row++) {
            float r = (float) (t - 1 - row);
            for (int i = 0; i < omega.length; i++) {
                float angle = r * omega[i];
                pe[row * dim + 2 * i] = (float) Math.sin(angle);
                pe[row * dim + 2 * i + 1] = (float) Math.cos(angle);
            }
        }
        return m.create(pe, new Shape(rows, dim));
    }

    /**
     * x [H, T, 2T−1] → [H, T, T] with out[h, i, j] = x[h, i, T−1−i+j] (the score of relative position
     * i − j): pad a zero column on the left, view as [H, 2T, T], drop the first row, view back, keep T columns.
     */
    static NDArray relShift(NDArray x) {
        long h = x.getShape().get(0);
        long t = x.getShape().get(1);
        long w = x.getShape().get(2);
        NDArray padded = x.getManager().zeros(new Shape(h, t, 1), x.getDataType(), x.getDevice()).concat(x, 2);
        return padded.reshape(h, w + 1, t).get(new NDIndex(":, 1:")).reshape(h, t, w)
                .get(new NDIndex(":, :, :{}", t));
    }

    /** {@link #relShift} over a batch: [B, H, T, 2T−1] → [B, H, T, T]. */
    static NDArray relShiftAll(NDArray x) {
        long b = x.getShape().get(0);
        long h = x.getShape().get(1);
        long t = x.getShape().get(2);
        long w = x.getShape().get(3);
        NDArray padded = x.getManager().zeros(new Shape(b, h, t, 1), x.getDataType(), x.getDevice()).concat(x, 3);
        return padded.reshape(b, h, w + 1, t).get(new NDIndex(":, :, 1:")).reshape(b, h, t, w)
                .get(new NDIndex(":, :, :, :{}", t));
    }

    /** Additive [T, T] mask: query i sees keys j < (i / chunk + 1)·chunk (chunk 0: everything). */
    static NDArray chunkMask(NDManager m, long t, long chunk) {
        return chunkMask(m, t, chunk, 0);
    }

    /**
     * The same for rows that sit at {@code first}.. of the reply: query i sees key j when first + j lies
     * before the end of first + i's chunk, the chunks counted from the reply's start.
     */
    static NDArray chunkMask(NDManager m, long t, long chunk, long first) {
        float[] mask = new float[(int) (t * t)];
        if (chunk > 0) {
            for (int i = 0; i < t; i++) {
                long end = Math.min(t, ((first + i) / chunk + 1) * chunk - first);
                for (long j = end; j < t; j++) {
                    mask[(int) (i * t + j)] = Float.NEGATIVE_INFINITY;
                }
            }
        }
        return m.create(mask, new Shape(t, t));
    }
}
