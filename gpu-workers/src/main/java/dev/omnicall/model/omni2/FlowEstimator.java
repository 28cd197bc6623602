package dev.omnicall.model.omni2;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.omnicall.model.Ops;
import dev.omnicall.model.io.TensorSource;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The flow's vector-field estimator (CosyVoice2's causal ConditionalDecoder, Matcha-TTS's U-Net with one
 * channel stage; flow.pt names under {@code decoder.estimator.}): input cat(x, mu, spk, cond) on channels;
 * a sinusoidal time embedding (×1000) through Linear–SiLU–Linear; a down stage, {@code midBlocks} mid stages
 * and an up stage (which takes cat(h, skip)), each a causal resnet (causal conv k3 + LayerNorm over
 * channels + Mish, twice, the time added between; 1×1 residual conv) then {@code blocks} transformer
 * blocks (LN, attention without q/k/v bias in chunks of {@code chunkFrames} with every earlier chunk
 * visible, LN, GELU FFN), the down and up stages ending in a causal conv k3; final causal block and a 1×1
 * projection to the mel bins. Works on a batch (the CFG pair). Float32.
 *
 * @param inChannels x + mu + spk + cond channels (320)
 * @param melBins the output (80)
 * @param channels the U-Net width (256)
 * @param heads attention heads (8)
 * @param headDim per head (64)
 * @param blocks transformer blocks per stage (4)
 * @param midBlocks mid stages (12)
 * @param chunkFrames attention chunk in frames (LLaMA-Omni2: 100); 0 = full attention
 */
public final class FlowEstimator {
    private static final double LN_EPS = 1e-5;
    private static final float MASK_BIAS = -1e10f; // Matcha's mask_to_bias

    /** The estimator's settings. */
    public record Config(int inChannels, int melBins, int channels, int heads, int headDim, int blocks,
            int midBlocks, int chunkFrames) {
        public Config {
            if (inChannels % 2 != 0 || channels <= 0 || heads <= 0 || headDim <= 0 || blocks < 0 || midBlocks < 0
                    || chunkFrames < 0) {
                throw new IllegalArgumentException("flow estimator config: even inChannels, positive widths and "
                        + "non-negative block counts expected, got " + this);
            }
        }

        public static Config cosyVoice2() {
            return new Config(320, 80, 256, 8, 64, 4, 12, 100);
        }

        public int timeDim() {
            return 4 * channels;
        }

        /** The estimator's tensors of flow.pt with their shapes (prefix {@code decoder.estimator.}). */
        public Map<String, long[]> tensorShapes() {
            Map<String, long[]> s = new LinkedHashMap<>();
            String p = "decoder.estimator.";
            s.put(p + "time_mlp.linear_1.weight", new long[] {timeDim(), inChannels});
            s.put(p + "time_mlp.linear_1.bias", new long[] {timeDim()});
            s.put(p + "time_mlp.linear_2.weight", new long[] {timeDim(), timeDim()});
            s.put(p + "time_mlp.linear_2.bias", new long[] {timeDim()});
            stage(s, p + "down_blocks.0", inChannels, true);
            for (int i = 0; i < midBlocks; i++) {
                stage(s, p + "mid_blocks." + i, channels, false);
            }
            stage(s, p + "up_blocks.0", 2 * channels, true);
            block(s, p + "final_block", channels, channels);
            s.put(p + "final_proj.weight", new long[] {melBins, channels, 1});
            s.put(p + "final_proj.bias", new long[] {melBins});
            return s;
        }

        private void stage(Map<String, long[]> s, String p, int in, boolean conv) {
            block(s, p + ".0.block1", in, channels);
            s.put(p + ".0.mlp.1.weight", new long[] {channels, timeDim()});
            s.put(p + ".0.mlp.1.bias", new long[] {channels});
            block(s, p + ".0.block2", channels, channels);
            s.put(p + ".0.res_conv.weight", new long[] {channels, in, 1});
            s.put(p + ".0.res_conv.bias", new long[] {channels});
            int inner = heads * headDim;
            for (int j = 0; j < blocks; j++) {
                String t = p + ".1." + j + ".";
                s.put(t + "norm1.weight", new long[] {channels});
                s.put(t + "norm1.bias", new long[] {channels});
                s.put(t + "attn1.to_q.weight", new long[] {inner, channels});
                s.put(t + "attn1.to_k.weight", new long[] {inner, channels});
                s.put(t + "attn1.to_v.weight", new long[] {inner, channels});
                s.put(t + "attn1.to_out.0.weight", new long[] {channels, inner});
                s.put(t + "attn1.to_out.0.bias", new long[] {channels});
                s.put(t + "norm3.weight", new long[] {channels});
                s.put(t + "norm3.bias", new long[] {channels});
                s.put(t + "ff.net.0.proj.weight", new long[] {4L * channels, channels});
                s.put(t + "ff.net.0.proj.bias", new long[] {4L * channels});
                s.put(t + "ff.net.2.weight", new long[] {channels, 4L * channels});
                s.put(t + "ff.net.2.bias", new long[] {channels});
            }
            if (conv) {
                s.put(p + ".2.weight", new long[] {channels, channels, 3});
                s.put(p + ".2.bias", new long[] {channels});
            }
        }

        private static void block(Map<String, long[]> s, String p, int in, int out) {
            s.put(p + ".block.0.weight", new long[] {out, in, 3});
            s.put(p + ".block.0.bias", new long[] {out});
            s.put(p + ".block.2.weight", new long[] {out});
            s.put(p + ".block.2.bias", new long[] {out});
        }
    }

    /** CausalBlock1D: causal conv k3, LayerNorm over channels, Mish; masked in and out (mask all ones here). */
    static final class CausalBlock {
        final NDArray conv; // [out, in, 3]
        final NDArray convBias; // [out]
        final NDArray lnWeight; // [out]
        final NDArray lnBias; // [out]

        CausalBlock(TensorSource src, NDManager m, String p, int in, int out) {
            conv = src.load(m, p + ".block.0.weight", DataType.FLOAT32, out, in, 3);
            convBias = src.load(m, p + ".block.0.bias", DataType.FLOAT32, out);
            lnWeight = src.load(m, p + ".block.2.weight", DataType.FLOAT32, out);
            lnBias = src.load(m, p + ".block.2.bias", DataType.FLOAT32, out);
        }

        NDArray forward(NDArray x) {
            NDArray h = causalConv(x, conv, convBias);
            h = Ops.layerNorm(h.transpose(0, 2, 1), lnWeight, lnBias, LN_EPS).transpose(0, 2, 1);
            return mish(h);
        }
    }

    /** CausalResnetBlock1D: block1, + Linear(Mish(t)), block2, + 1×1 conv of the input. */
    static final class Resnet {
        final CausalBlock block1;
        final NDArray mlp; // [channels, timeDim]
        final NDArray mlpBias; // [channels]
        final CausalBlock block2;
        final NDArray resConv; // [channels, in, 1]
        final NDArray resConvBias; // [channels]

        Resnet(TensorSource src, NDManager m, String p, int in, Config c) {
            block1 = new CausalBlock(src, m, p + ".block1", in, c.channels());
            mlp = src.load(m, p + ".mlp.1.weight", DataType.FLOAT32, c.channels(), c.timeDim());
            mlpBias = src.load(m, p + ".mlp.1.bias", DataType.FLOAT32, c.channels());
            block2 = new CausalBlock(src, m, p + ".block2", c.channels(), c.channels());
            resConv = src.load(m, p + ".res_conv.weight", DataType.FLOAT32, c.channels(), in, 1);
            resConvBias = src.load(m, p + ".res_conv.bias", DataType.FLOAT32, c.channels());
        }

        /** x [B, in, T], time [1, timeDim] → [B, channels, T]. */
        NDArray forward(NDArray x, NDArray time) {
            NDArray h = block1.forward(x);
            h = h.add(Ops.linear(mish(time), mlp, mlpBias).expandDims(2));
            h = block2.forward(h);
            return h.add(Ops.conv1d(x, resConv, resConvBias, 1, 0, 1));
        }
    }

    /** diffusers' BasicTransformerBlock as Matcha uses it: LN, self-attention, LN, GELU FFN, residuals. */
    static final class TransformerBlock {
        final NDArray norm1Weight; // [channels]
        final NDArray norm1Bias;
        final NDArray wq; // [heads*headDim, channels]
        final NDArray wk;
        final NDArray wv;
        final NDArray wo; // [channels, heads*headDim]
        final NDArray bo; // [channels]
        final NDArray norm3Weight;
        final NDArray norm3Bias;
        final NDArray ff1; // [4·channels, channels]
        final NDArray ff1Bias;
        final NDArray ff2; // [channels, 4·channels]
        final NDArray ff2Bias;
        final int heads;
        final int headDim;

        TransformerBlock(TensorSource src, NDManager m, String p, Config c) {
            DataType f = DataType.FLOAT32;
            int ch = c.channels();
            int inner = c.heads() * c.headDim();
            heads = c.heads();
            headDim = c.headDim();
            norm1Weight = src.load(m, p + ".norm1.weight", f, ch);
            norm1Bias = src.load(m, p + ".norm1.bias", f, ch);
            wq = src.load(m, p + ".attn1.to_q.weight", f, inner, ch);
            wk = src.load(m, p + ".attn1.to_k.weight", f, inner, ch);
            wv = src.load(m, p + ".attn1.to_v.weight", f, inner, ch);
            wo = src.load(m, p + ".attn1.to_out.0.weight", f, ch, inner);
            bo = src.load(m, p + ".attn1.to_out.0.bias", f, ch);
            norm3Weight = src.load(m, p + ".norm3.weight", f, ch);
            norm3Bias = src.load(m, p + ".norm3.bias", f, ch);
            ff1 = src.load(m, p + ".ff.net.0.proj.weight", f, 4L * ch, ch);
            ff1Bias = src.load(m, p + ".ff.net.0.proj.bias", f, 4L * ch);
            ff2 = src.load(m, p + ".ff.net.2.weight", f, ch, 4L * ch);
            ff2Bias = src.load(m, p + ".ff.net.2.bias", f, ch);
        }

        /** x [B, T, channels], mask [T, T] additive. */
        NDArray forward(NDArray x, NDArray mask) {
            long b = x.getShape().get(0);
            long t = x.getShape().get(1);
            NDArray h = Ops.layerNorm(x, norm1Weight, norm1Bias, LN_EPS);
            NDArray q = heads(Ops.linear(h, wq, null), b, t);
            NDArray k = heads(Ops.linear(h, wk, null), b, t);
            NDArray v = heads(Ops.linear(h, wv, null), b, t);
            NDArray scores = q.matMul(k.transpose(0, 1, 3, 2)).mul((float) (1 / Math.sqrt(headDim))).add(mask);
            NDArray attended = scores.softmax(-1).matMul(v).transpose(0, 2, 1, 3).reshape(b, t, (long) heads * headDim);
            x = x.add(Ops.linear(attended, wo, bo));
            h = Ops.layerNorm(x, norm3Weight, norm3Bias, LN_EPS);
            return x.add(Ops.linear(Ops.linear(h, ff1, ff1Bias).getNDArrayInternal().gelu(), ff2, ff2Bias));
        }

        private NDArray heads(NDArray x, long b, long t) {
            return x.reshape(b, t, heads, headDim).transpose(0, 2, 1, 3);
        }
    }

    /** A U-Net stage: resnet, transformer blocks, and (down/up) a closing causal conv. */
    static final class Stage {
        final Resnet resnet;
        final List<TransformerBlock> transformers;
        final NDArray conv; // [channels, channels, 3] or null
        final NDArray convBias;

        Stage(TensorSource src, NDManager m, String p, int in, boolean withConv, Config c) {
            resnet = new Resnet(src, m, p + ".0", in, c);
            transformers = new ArrayList<>();
            for (int j = 0; j < c.blocks(); j++) {
                transformers.add(new TransformerBlock(src, m, p + ".1." + j, c));
            }
            conv = withConv ? src.load(m, p + ".2.weight", DataType.FLOAT32, c.channels(), c.channels(), 3) : null;
            convBias = withConv ? src.load(m, p + ".2.bias", DataType.FLOAT32, c.channels()) : null;
        }

        /** x [B, in, T] → [B, channels, T] before the closing conv (the skip), and after it. */
        NDArray[] forward(NDArray x, NDArray time, NDArray mask) {
            NDArray h = resnet.forward(x, time).transpose(0, 2, 1);
            for (TransformerBlock block : transformers) {
                h = block.forward(h, mask);
            }
            h = h.transpose(0, 2, 1);
            return new NDArray[] {h, conv == null ? h : causalConv(h, conv, convBias)};
        }
    }

    final NDArray time1; // [timeDim, inChannels]
    final NDArray time1Bias;
    final NDArray time2; // [timeDim, timeDim]
    final NDArray time2Bias;
    final Stage down;
    final List<Stage> mids;
    final Stage up;
    final CausalBlock finalBlock;
    final NDArray finalProj; // [melBins, channels, 1]
    final NDArray finalProjBias;
    private final Config config;

    public FlowEstimator(TensorSource src, NDManager m, Config c) {
        this.config = c;
        String p = "decoder.estimator.";
        DataType f = DataType.FLOAT32;
        time1 = src.load(m, p + "time_mlp.linear_1.weight", f, c.timeDim(), c.inChannels());
        time1Bias = src.load(m, p + "time_mlp.linear_1.bias", f, c.timeDim());
        time2 = src.load(m, p + "time_mlp.linear_2.weight", f, c.timeDim(), c.timeDim());
        time2Bias = src.load(m, p + "time_mlp.linear_2.bias", f, c.timeDim());
        down = new Stage(src, m, p + "down_blocks.0", c.inChannels(), true, c);
        mids = new ArrayList<>();
        for (int i = 0; i < c.midBlocks(); i++) {
            mids.add(new Stage(src, m, p + "mid_blocks." + i, c.channels(), false, c));
        }
        up = new Stage(src, m, p + "up_blocks.0", 2 * c.channels(), true, c);
        finalBlock = new CausalBlock(src, m, p + "final_block", c.channels(), c.channels());
        finalProj = src.load(m, p + "final_proj.weight", f, c.melBins(), c.channels(), 1);
        finalProjBias = src.load(m, p + "final_proj.bias", f, c.melBins());
    }

    public Config config() {
        return config;
    }

    /** x [B, inChannels, T] (x, mu, spk, cond stacked), time t → the velocity [B, melBins, T]. */
    public NDArray forward(NDArray x, float t) {
        return forward(x, t, 0);
    }

    /**
     * The same over frames that sit at {@code firstFrame}.. of the reply: the attention chunks keep their
     * places in the reply; frames before the window are not seen (zeros in the causal convolutions, absent
     * from attention), exact when {@code firstFrame} is 0.
     */
    public NDArray forward(NDArray x, float t, long firstFrame) {
        return forwardMasked(x, t, chunkBias(x.getManager(), x.getShape().get(2), config.chunkFrames(), firstFrame));
    }

    /**
     * Rows of different windows in one batch: x [B, inChannels, T] right-padded, mask [B, 1, T, T] from
     * {@link #paddedChunkBias}. Every convolution here is causal and layer norms work per frame, so a row's padding
     * reaches its real frames only through attention, which the mask closes.
     */
    public NDArray forwardMasked(NDArray x, float t, NDArray mask) {
        NDManager m = x.getManager();
        // time: sinusoid ×1000, Linear, SiLU, Linear
        NDArray time = Ops.linear(Ops.silu(Ops.linear(timeSinusoid(m, t, config.inChannels()), time1, time1Bias)),
                time2, time2Bias);
        // down stage, keeping the skip
        NDArray[] d = down.forward(x, time, mask);
        NDArray skip = d[0];
        NDArray h = d[1];
        // mid stages
        for (Stage mid : mids) {
            h = mid.forward(h, time, mask)[1];
        }
        // up stage on cat(h, skip)
        h = up.forward(h.concat(skip, 1), time, mask)[1];
        // final causal block, 1×1 projection
        return Ops.conv1d(finalBlock.forward(h), finalProj, finalProjBias, 1, 0, 1);
    }

    /** [1, dim]: sin then cos of 1000·t·exp(−i·ln(10⁴)/(dim/2 − 1)), float32 as torch computes it. */
    static NDArray timeSinusoid(NDManager m, float t, int dim) {
        int half = dim / 2;
        float step = (float) -(Math.log(10000) / (half - 1));
        float[] out = new float[dim];
        for (int i = 0; i < half; i++) {
            float omega = (float) Math.exp((float) i * step);
            float angle = (1000f * t) * omega;
            out[i] = (float) Math.sin(angle);
            out[half + i] = (float) Math.cos(angle);
        }
        return m.create(out, new Shape(1, dim));
    }

    /** Left-pad k−1 zeros, then the convolution: output t sees inputs ≤ t. */
    static NDArray causalConv(NDArray x, NDArray weight, NDArray bias) {
        long k = weight.getShape().get(2);
        NDArray pad = x.getManager().zeros(new Shape(x.getShape().get(0), x.getShape().get(1), k - 1), x.getDataType(),
                x.getDevice());
        return Ops.conv1d(pad.concat(x, 2), weight, bias, 1, 0, 1);
    }

    /** Mish: x·tanh(softplus(x)). */
    static NDArray mish(NDArray x) {
        return x.mul(x.getNDArrayInternal().softPlus().tanh());
    }

    /** Additive [T, T]: 0 where key j < (i / chunk + 1)·chunk, −1e10 elsewhere (chunk 0: all 0). */
    static NDArray chunkBias(NDManager m, long t, long chunk) {
        return chunkBias(m, t, chunk, 0);
    }

    /**
     * [B, 1, T, T]: row r's {@link #chunkBias} for frames at {@code firsts[r]}.., with its keys from {@code
     * lengths[r]} on (its padding) masked too; rows repeat with period {@code firsts.length} (the CFG pair's halves).
     */
    public NDArray paddedChunkBias(NDManager m, long t, long[] firsts, int[] lengths, int rows) {
        long chunk = config.chunkFrames();
        float[] mask = new float[(int) (rows * t * t)];
        for (int r = 0; r < rows; r++) {
            long first = firsts[r % firsts.length];
            int valid = lengths[r % lengths.length];
            int base = (int) (r * t * t);
            for (int i = 0; i < t; i++) {
                long end = chunk > 0 ? Math.min(valid, ((first + i) / chunk + 1) * chunk - first) : valid;
                for (long j = end; j < t; j++) {
                    mask[(int) (base + i * t + j)] = MASK_BIAS;
                }
            }
        }
        return m.create(mask, new Shape(rows, 1, t, t));
    }

    /** The same for rows at {@code first}.. of the reply, chunks counted from the reply's start. */
    static NDArray chunkBias(NDManager m, long t, long chunk, long first) {
        float[] mask = new float[(int) (t * t)];
        if (chunk > 0) {
            for (int i = 0; i < t; i++) {
                for (long j = Math.min(t, ((first + i) / chunk + 1) * chunk - first); j < t; j++) {
                    mask[(int) (i * t + j)] = MASK_BIAS;
                }
            }
        }
        return m.create(mask, new Shape(t, t));
    }
}
