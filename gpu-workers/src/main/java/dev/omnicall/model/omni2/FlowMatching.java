package dev.omnicall.model.omni2;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.omnicall.model.Ops;
import dev.omnicall.model.io.CheckpointException;
import dev.omnicall.model.io.TensorInfo;
import dev.omnicall.model.io.TensorSource;
import java.nio.file.Path;
import java.util.List;

/**
 * Units → mel, CosyVoice2's {@code CausalMaskedDiffWithXvec.inference} without a prompt: mu from the
 * {@link FlowEncoder}; the speaker x-vector L2-normalised and projected ({@code spk_embed_affine_layer},
 * [80, 192]); cond zeros; then Euler steps on t = 1 − cos(π/2 · k/steps) from a fixed noise, each step one
 * batch of two estimator rows, conditioned (x, mu, spk, cond) and unconditioned (x, 0, 0, 0), mixed as
 * (1 + rate)·v_c − rate·v_u (rate 0.7, 10 steps).
 *
 * <p>The reference's noise is a randn [1, 80, 15000] drawn at construction after torch.manual_seed(1986)
 * and not stored in flow.pt; this port's noise is its own: standard normal, a pure function of
 * (seed, mel bin, absolute frame) (see {@link SourcePins}), so any stretch of frames can be drawn alone.
 * Its cap, {@link #MAX_FRAMES}, is the reference's (300 s of mel at 50 frames/s).
 */
public final class FlowMatching {
    public static final int MAX_FRAMES = 15000;
    public static final long DEFAULT_NOISE_SEED = 1986L;

    final NDArray spkAffine; // [melBins, xvectorDim]
    final NDArray spkAffineBias; // [melBins]
    private final FlowEncoder encoder;
    private final FlowEstimator estimator;
    private final int steps;
    private final double cfgRate;
    private final long noiseSeed;

    public FlowMatching(TensorSource src, NDManager m, FlowEncoder encoder, FlowEstimator estimator, int xvectorDim,
            int steps, double cfgRate, long noiseSeed) {
        int mel = encoder.config().melBins();
        if (estimator.config().inChannels() != 4 * mel || estimator.config().melBins() != mel) {
            throw new IllegalArgumentException("the estimator takes " + estimator.config().inChannels()
                    + " channels and gives " + estimator.config().melBins() + " but x, mu, spk, cond of " + mel
                    + " bins need " + 4 * mel + " and " + mel);
        }
        this.encoder = encoder;
        this.estimator = estimator;
        this.steps = steps;
        this.cfgRate = cfgRate;
        this.noiseSeed = noiseSeed;
        spkAffine = src.load(m, "spk_embed_affine_layer.weight", DataType.FLOAT32, mel, xvectorDim);
        spkAffineBias = src.load(m, "spk_embed_affine_layer.bias", DataType.FLOAT32, mel);
    }

    /** Loads {@code flow.pt} at CosyVoice2's sizes: 10 steps, guidance 0.7, the default noise seed. */
    public static FlowMatching load(Path flowPt, NDManager m) {
        return load(flowPt, m, FlowEncoderConfig.cosyVoice2(), FlowEstimator.Config.cosyVoice2(), DEFAULT_NOISE_SEED);
    }

    /**
     * Loads {@code flow.pt} (a torch.save state dict, no prefix) with the given sizes; the x-vector width is
     * read from {@code spk_embed_affine_layer.weight}. A missing file or tensor, or a wrong shape, is one
     * {@link dev.omnicall.model.io.CheckpointException} naming it.
     */
    public static FlowMatching load(Path flowPt, NDManager m, FlowEncoderConfig encoderConfig,
            FlowEstimator.Config estimatorConfig, long noiseSeed) {
        try (StateDictSource src = StateDictSource.open(flowPt, "")) {
            TensorInfo spk = src.info("spk_embed_affine_layer.weight");
            if (spk == null || spk.shape().length != 2) {
                throw new CheckpointException("tensor spk_embed_affine_layer.weight is missing from " + flowPt
                        + " or not a matrix (expected [" + encoderConfig.melBins() + ", x-vector width])");
            }
            return new FlowMatching(src, m, new FlowEncoder(src, m, encoderConfig),
                    new FlowEstimator(src, m, estimatorConfig), (int) spk.shape()[1], 10, 0.7, noiseSeed);
        }
    }

    public FlowEncoder encoder() {
        return encoder;
    }

    /** Units [N] and the speaker's x-vector → mel [80, 2N] (the whole reply). */
    public NDArray mel(NDManager scope, long[] units, float[] xvector) {
        long frames = (long) units.length * encoder.config().upStride();
        if (frames > MAX_FRAMES) {
            throw new IllegalArgumentException(units.length + " units make " + frames
                    + " mel frames, more than the flow noise's " + MAX_FRAMES);
        }
        NDArray mu = encoder.forward(scope, units);
        return solve(mu, speaker(scope, xvector), noise(scope, 0, frames));
    }

    /** x-vector [D] → spk [80]: L2-normalised (norm floored at 1e-12, as F.normalize), then the affine layer. */
    public NDArray speaker(NDManager scope, float[] xvector) {
        NDArray v = scope.create(xvector, new Shape(1, xvector.length));
        NDArray normalised = v.div(v.norm(new int[] {1}, true).maximum(1e-12f));
        return Ops.linear(normalised, spkAffine, spkAffineBias).reshape(-1);
    }

    /** Several replies' x-vectors [B][D] → spk [B, 80], each row as {@link #speaker}. */
    public NDArray speakers(NDManager scope, List<float[]> xvectors) {
        int d = xvectors.get(0).length;
        float[] all = new float[xvectors.size() * d];
        for (int i = 0; i < xvectors.size(); i++) {
            System.arraycopy(xvectors.get(i), 0, all, i * d, d);
        }
        NDArray v = scope.create(all, new Shape(xvectors.size(), d));
        NDArray normalised = v.div(v.norm(new int[] {1}, true).maximum(1e-12f));
        return Ops.linear(normalised, spkAffine, spkAffineBias);
    }

    /** Row r: the fixed noise for frames [firsts[r], firsts[r] + lengths[r]), zeros after it: [B, 80, frames]. */
    public NDArray noiseAll(NDManager scope, long[] firsts, int[] lengths, int frames) {
        int mel = encoder.config().melBins();
        float[] z = new float[firsts.length * mel * frames];
        for (int r = 0; r < firsts.length; r++) {
            for (int b = 0; b < mel; b++) {
                int base = (r * mel + b) * frames;
                for (int t = 0; t < lengths[r]; t++) {
                    z[base + t] = (float) SourcePins.gaussian(noiseSeed, b, firsts[r] + t);
                }
            }
        }
        return scope.create(z, new Shape(firsts.length, mel, frames));
    }

    /** The fixed noise for frames [first, first + n): [80, n]. */
    public NDArray noise(NDManager scope, long first, long n) {
        int mel = encoder.config().melBins();
        float[] z = new float[(int) (mel * n)];
        for (int b = 0; b < mel; b++) {
            for (int t = 0; t < n; t++) {
                z[(int) (b * n + t)] = (float) SourcePins.gaussian(noiseSeed, b, first + t);
            }
        }
        return scope.create(z, new Shape(mel, n));
    }

    /** Euler with classifier-free guidance from x0 = noise: mu [80, T], spk [80], noise [80, T] → mel [80, T]. */
    public NDArray solve(NDArray mu, NDArray spk, NDArray noise) {
        return solve(mu, spk, noise, 0);
    }

    /**
     * The same over frames that sit at {@code firstFrame}.. of the reply (the streaming decoder's window):
     * the estimator's attention chunks keep their places in the reply.
     */
    public NDArray solve(NDArray mu, NDArray spk, NDArray noise, long firstFrame) {
        long frames = mu.getShape().get(1);
        long mel = mu.getShape().get(0);
        NDManager m = mu.getManager();
        // conditioned row: mu, spk repeated over time, cond zeros; the unconditioned row zeros them all
        NDArray spkFrames = spk.reshape(mel, 1).tile(new long[] {1, frames});
        NDArray zeros = m.zeros(new Shape(mel, frames));
        NDArray conditionedRest = NDArrayStack.rows(mu, spkFrames, zeros); // [3·80, T]
        NDArray unconditionedRest = m.zeros(new Shape(3 * mel, frames));
        float[] grid = timeGrid(steps);
        NDArray x = noise;
        float t = grid[0];
        float dt = grid[1] - grid[0];
        for (int step = 1; step <= steps; step++) {
            // one batch: [x; mu; spk; cond] and [x; 0; 0; 0]
            NDArray in = x.concat(conditionedRest, 0).expandDims(0)
                    .concat(x.concat(unconditionedRest, 0).expandDims(0), 0);
            NDArray v = estimator.forward(in, t, firstFrame);
            NDArray guided = v.get(0).mul((float) (1 + cfgRate)).sub(v.get(1).mul((float) cfgRate));
            x = x.add(guided.mul(dt));
            t = t + dt;
            if (step < steps) {
                dt = grid[step + 1] - t;
            }
        }
        return x;
    }

    /**
     * {@link #solve} for several windows in one batch per Euler step: mu [B, 80, T] and noise [B, 80, T] right-padded
     * (row r's frames are the first {@code lengths[r]}, at {@code firstFrames[r]}.. of its reply), spk [B, 80] →
     * mel [B, 80, T], row r's first lengths[r] frames equal to its window alone (within float rounding). Each step is
     * one estimator batch of 2B rows: the B conditioned rows, then the B unconditioned ones.
     */
    public NDArray solveAll(NDArray mu, NDArray spk, NDArray noise, long[] firstFrames, int[] lengths) {
        long b = mu.getShape().get(0);
        long mel = mu.getShape().get(1);
        long frames = mu.getShape().get(2);
        NDManager m = mu.getManager();
        // conditioned rows: mu, spk repeated over time, cond zeros; the unconditioned rows zeros them all
        NDArray spkFrames = spk.reshape(b, mel, 1).tile(new long[] {1, 1, frames});
        NDArray conditionedRest = mu.concat(spkFrames, 1).concat(m.zeros(new Shape(b, mel, frames)), 1);
        NDArray unconditionedRest = m.zeros(new Shape(b, 3 * mel, frames));
        NDArray mask = estimator.paddedChunkBias(m, frames, firstFrames, lengths, (int) (2 * b));
        float[] grid = timeGrid(steps);
        NDArray x = noise;
        float t = grid[0];
        float dt = grid[1] - grid[0];
        for (int step = 1; step <= steps; step++) {
            NDArray in = x.concat(conditionedRest, 1).concat(x.concat(unconditionedRest, 1), 0);
            NDArray v = estimator.forwardMasked(in, t, mask);
            NDArray guided = v.get(new NDIndex(":{}", b)).mul((float) (1 + cfgRate))
                    .sub(v.get(new NDIndex("{}:", b)).mul((float) cfgRate));
            x = x.add(guided.mul(dt));
            t = t + dt;
            if (step < steps) {
                dt = grid[step + 1] - t;
            }
        }
        return x;
    }

    public int steps() {
        return steps;
    }

    /**
     * t_k = 1 − cos(π/2 · s_k) with s = torch.linspace(0, 1, steps + 1) in float32 (torch fills the first half
     * as k·δ and the second as 1 − (steps − k)·δ).
     */
    static float[] timeGrid(int steps) {
        float delta = 1f / steps;
        float[] t = new float[steps + 1];
        int half = (steps + 1) / 2;
        for (int k = 0; k <= steps; k++) {
            float s = k < half ? k * delta : 1f - (steps - k) * delta;
            t[k] = 1f - (float) Math.cos(s * 0.5f * (float) Math.PI);
        }
        return t;
    }

    /** Stacking along the channel axis, kept apart for readability of {@link #solve}. */
    private static final class NDArrayStack {
        static NDArray rows(NDArray... parts) {
            NDArray out = parts[0];
            for (int i = 1; i < parts.length; i++) {
                out = out.concat(parts[i], 0);
            }
            return out;
        }
    }
}
