package dev.omnicall.model.omni;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.omnicall.model.Ops;
import dev.omnicall.model.io.TensorInfo;
import dev.omnicall.model.io.TensorSource;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * fairseq's CodeHiFiGAN unit vocoder (paper §2.6): unit embedding, duration predictor, then HiFi-GAN
 * (conv_pre, transposed-convolution upsampling each followed by the mean of multi-receptive-field
 * residual blocks, leaky ReLU 0.01, conv_post, tanh). Weight-norm pairs (weight_g, weight_v) are folded
 * into plain weights at load. Always float32: the vocoder is small and its output goes straight to PCM.
 */
public final class UnitVocoder {
    private static final float LRELU_SLOPE = 0.1f;
    private static final double LN_EPS = 1e-5;

    final NDArray dict; // [numEmbeddings, embeddingDim]
    final NDArray durConv1; // [hidden, embeddingDim, k]
    final NDArray durConv1Bias; // [hidden]
    final NDArray durLn1Weight; // [hidden]
    final NDArray durLn1Bias; // [hidden]
    final NDArray durConv2; // [hidden, hidden, k]
    final NDArray durConv2Bias; // [hidden]
    final NDArray durLn2Weight; // [hidden]
    final NDArray durLn2Bias; // [hidden]
    final NDArray durProj; // [1, hidden]
    final NDArray durProjBias; // [1]
    final NDArray convPre; // [C0, embeddingDim, 7]
    final NDArray convPreBias; // [C0]
    final List<NDArray> ups; // i: [C0/2^i, C0/2^(i+1), k_i] (ConvTranspose layout)
    final List<NDArray> upsBias; // i: [C0/2^(i+1)]
    final List<ResBlock> resblocks; // numUpsamples * numKernels
    final NDArray convPost; // [1, C_last, 7]
    final NDArray convPostBias; // [1]
    private final VocoderConfig config;
    private final NDManager manager;
    private final int durPad;

    /** HiFi-GAN ResBlock1: per dilation, lrelu -> dilated conv -> lrelu -> conv, plus the input. */
    static final class ResBlock {
        final List<NDArray> convs1; // m: [ch, ch, k], dilation d_m
        final List<NDArray> convs1Bias; // m: [ch]
        final List<NDArray> convs2; // m: [ch, ch, k], dilation 1
        final List<NDArray> convs2Bias; // m: [ch]
        final int kernel;
        final List<Integer> dilations;

        ResBlock(TensorSource src, NDManager m, String p, int ch, int kernel, List<Integer> dilations) {
            this.kernel = kernel;
            this.dilations = dilations;
            convs1 = new ArrayList<>();
            convs1Bias = new ArrayList<>();
            convs2 = new ArrayList<>();
            convs2Bias = new ArrayList<>();
            for (int j = 0; j < dilations.size(); j++) {
                convs1.add(weightNorm(src, m, p + "convs1." + j, ch, ch, kernel));
                convs1Bias.add(src.load(m, p + "convs1." + j + ".bias", DataType.FLOAT32, ch));
                convs2.add(weightNorm(src, m, p + "convs2." + j, ch, ch, kernel));
                convs2Bias.add(src.load(m, p + "convs2." + j + ".bias", DataType.FLOAT32, ch));
            }
        }

        NDArray forward(NDArray x) {
            return forward(x, null);
        }

        /** mask (nullable) [N, 1, T]: 1 within each sequence, 0 in the padding, applied to every conv's input. */
        NDArray forward(NDArray x, NDArray mask) {
            for (int j = 0; j < dilations.size(); j++) {
                int d = dilations.get(j);
                NDArray xt = Ops.conv1d(masked(Ops.leakyRelu(x, LRELU_SLOPE), mask), convs1.get(j), convs1Bias.get(j),
                        1, (kernel * d - d) / 2, d);
                xt = Ops.conv1d(masked(Ops.leakyRelu(xt, LRELU_SLOPE), mask), convs2.get(j), convs2Bias.get(j), 1,
                        (kernel - 1) / 2, 1);
                x = xt.add(x);
            }
            return x;
        }
    }

    /** Audio and the durations used, so a streaming caller can align context. */
    public record Synthesis(float[] audio, int[] durations) {
        public int samplesOf(int firstUnits, int hop) {
            int frames = 0;
            for (int i = 0; i < firstUnits; i++) {
                frames += durations[i];
            }
            return frames * hop;
        }
    }

    public UnitVocoder(TensorSource src, NDManager m, VocoderConfig c) {
        this.config = c;
        this.manager = m;
        DataType f = DataType.FLOAT32;
        int emb = c.embeddingDim();
        var dp = c.durPredictorParams();
        int hidden = dp.varPredHiddenDim();
        int k = dp.varPredKernelSize();
        this.durPad = (k - 1) / 2;
        dict = src.load(m, "dict.weight", f, c.numEmbeddings(), emb);
        durConv1 = src.load(m, "dur_predictor.conv1.0.weight", f, hidden, emb, k);
        durConv1Bias = src.load(m, "dur_predictor.conv1.0.bias", f, hidden);
        durLn1Weight = src.load(m, "dur_predictor.ln1.weight", f, hidden);
        durLn1Bias = src.load(m, "dur_predictor.ln1.bias", f, hidden);
        durConv2 = src.load(m, "dur_predictor.conv2.0.weight", f, hidden, hidden, k);
        durConv2Bias = src.load(m, "dur_predictor.conv2.0.bias", f, hidden);
        durLn2Weight = src.load(m, "dur_predictor.ln2.weight", f, hidden);
        durLn2Bias = src.load(m, "dur_predictor.ln2.bias", f, hidden);
        durProj = src.load(m, "dur_predictor.proj.weight", f, 1, hidden);
        durProjBias = src.load(m, "dur_predictor.proj.bias", f, 1);
        int c0 = c.upsampleInitialChannel();
        convPre = weightNorm(src, m, "conv_pre", c0, emb, 7);
        convPreBias = src.load(m, "conv_pre.bias", f, c0);
        ups = new ArrayList<>();
        upsBias = new ArrayList<>();
        resblocks = new ArrayList<>();
        int kernels = c.resblockKernelSizes().size();
        for (int i = 0; i < c.upsampleRates().size(); i++) {
            int in = c0 >> i;
            int out = c0 >> (i + 1);
            ups.add(weightNorm(src, m, "ups." + i, in, out, c.upsampleKernelSizes().get(i)));
            upsBias.add(src.load(m, "ups." + i + ".bias", f, out));
            for (int j = 0; j < kernels; j++) {
                resblocks.add(new ResBlock(src, m, "resblocks." + (i * kernels + j) + ".", out,
                        c.resblockKernelSizes().get(j), c.resblockDilationSizes().get(j)));
            }
        }
        int last = c0 >> c.upsampleRates().size();
        convPost = weightNorm(src, m, "conv_post", 1, last, 7);
        convPostBias = src.load(m, "conv_post.bias", f, 1);
    }

    public VocoderConfig config() {
        return config;
    }

    /** Samples per duration frame (320 at 16 kHz: 50 frames/s). */
    public int hop() {
        return config.codeHopSize();
    }

    /** units -> 16 kHz audio in [-1, 1], durations predicted. */
    public Synthesis synthesize(int[] units) {
        return synthesize(units, new int[0]);
    }

    /**
     * units -> audio; the first {@code fixedDurations.length} units take the given durations instead of
     * predicted ones (a streaming caller re-synthesises left-context units with the durations they
     * already had, so the audio stays aligned).
     */
    public Synthesis synthesize(int[] units, int[] fixedDurations) {
        // drop codes < 0, as fairseq does
        int[] codes = Arrays.stream(units).filter(u -> u >= 0).toArray();
        for (int u : codes) {
            if (u >= config.numEmbeddings()) {
                throw new IllegalArgumentException("unit " + u + " outside the vocoder's " + config.numEmbeddings()
                        + " embeddings");
            }
        }
        if (codes.length == 0) {
            return new Synthesis(new float[0], new int[0]);
        }
        long[] ids = Arrays.stream(codes).asLongStream().toArray();
        // embed the units [L, emb]
        int[] durations;
        try (NDArray embedded = Ops.scoped(() -> Ops.embedding(manager.create(ids), dict))) {
            // predict durations, overriding the fixed prefix
            durations = predictDurations(embedded);
        }
        for (int i = 0; i < Math.min(fixedDurations.length, durations.length); i++) {
            durations[i] = fixedDurations[i];
        }
        // repeat each unit by its duration
        long[] expanded = new long[Arrays.stream(durations).sum()];
        int at = 0;
        for (int i = 0; i < codes.length; i++) {
            Arrays.fill(expanded, at, at + durations[i], codes[i]);
            at += durations[i];
        }
        float[] audio;
        try (NDArray wave = Ops.scoped(() -> generate(Ops.embedding(manager.create(expanded), dict)
                .transpose(1, 0).expandDims(0), null))) {
            audio = wave.toFloatArray();
        }
        return new Synthesis(audio, durations);
    }

    /**
     * Several unit sequences (a step's due chunks of several turns) in one padded forward: the duration predictor
     * over [N, emb, longest] and HiFi-GAN over [N, emb, most frames], every convolution's input zeroed past each
     * sequence's end, so each sequence sees the zero padding it sees alone. Same durations and audio (float32
     * rounding aside) as {@link #synthesize(int[], int[])} on each (tested); {@code fixedDurations.get(i)} as there.
     */
    public List<Synthesis> synthesizeAll(List<int[]> units, List<int[]> fixedDurations) {
        int n = units.size();
        if (fixedDurations.size() != n) {
            throw new IllegalArgumentException(n + " unit sequences but " + fixedDurations.size() + " duration prefixes");
        }
        Synthesis[] out = new Synthesis[n];
        List<Integer> live = new ArrayList<>();
        List<int[]> codes = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int[] c = Arrays.stream(units.get(i)).filter(u -> u >= 0).toArray();
            for (int u : c) {
                if (u >= config.numEmbeddings()) {
                    throw new IllegalArgumentException("unit " + u + " outside the vocoder's " + config.numEmbeddings()
                            + " embeddings");
                }
            }
            if (c.length == 0) {
                out[i] = new Synthesis(new float[0], new int[0]);
            } else {
                live.add(i);
                codes.add(c);
            }
        }
        if (live.isEmpty()) {
            return Arrays.asList(out);
        }
        int b = live.size();
        // durations: the predictor over the padded unit embeddings
        int longest = codes.stream().mapToInt(c -> c.length).max().orElseThrow();
        int[] unitLengths = codes.stream().mapToInt(c -> c.length).toArray();
        float[] logDur;
        try (NDArray pred = Ops.scoped(() -> {
            NDArray mask = lengthMask(unitLengths, longest);
            NDArray x = Ops.embedding(manager.create(padded(codes, longest)), dict).reshape(b, longest, -1)
                    .transpose(0, 2, 1);
            x = Ops.conv1d(masked(x, mask), durConv1, durConv1Bias, 1, durPad, 1).getNDArrayInternal().relu();
            x = Ops.layerNorm(x.transpose(0, 2, 1), durLn1Weight, durLn1Bias, LN_EPS).transpose(0, 2, 1);
            x = Ops.conv1d(masked(x, mask), durConv2, durConv2Bias, 1, durPad, 1).getNDArrayInternal().relu();
            x = Ops.layerNorm(x.transpose(0, 2, 1), durLn2Weight, durLn2Bias, LN_EPS);
            return Ops.linear(x, durProj, durProjBias).reshape(b, longest);
        })) {
            logDur = pred.toFloatArray();
        }
        List<int[]> durations = new ArrayList<>();
        List<int[]> expanded = new ArrayList<>();
        for (int j = 0; j < b; j++) {
            int[] c = codes.get(j);
            int[] d = new int[c.length];
            for (int i = 0; i < c.length; i++) {
                d[i] = (int) Math.max(1, Math.rint(Math.exp(logDur[j * longest + i]) - 1));
            }
            int[] fixed = fixedDurations.get(live.get(j));
            for (int i = 0; i < Math.min(fixed.length, d.length); i++) {
                d[i] = fixed[i];
            }
            int[] e = new int[Arrays.stream(d).sum()];
            int at = 0;
            for (int i = 0; i < c.length; i++) {
                Arrays.fill(e, at, at + d[i], c[i]);
                at += d[i];
            }
            durations.add(d);
            expanded.add(e);
        }
        // HiFi-GAN over the padded frames
        int frames = expanded.stream().mapToInt(e -> e.length).max().orElseThrow();
        int[] frameLengths = expanded.stream().mapToInt(e -> e.length).toArray();
        float[] wave;
        try (NDArray w = Ops.scoped(() -> generate(Ops.embedding(manager.create(padded(expanded, frames)), dict)
                .reshape(b, frames, -1).transpose(0, 2, 1), lengthMask(frameLengths, frames)))) {
            wave = w.toFloatArray();
        }
        int samplesPerRow = wave.length / b;
        int hop = samplesPerRow / frames;
        for (int j = 0; j < b; j++) {
            out[live.get(j)] = new Synthesis(Arrays.copyOfRange(wave, j * samplesPerRow,
                    j * samplesPerRow + frameLengths[j] * hop), durations.get(j));
        }
        return Arrays.asList(out);
    }

    /** Sequences as one row each, padded with unit 0 to `width`: [N * width] ids. */
    private static long[] padded(List<int[]> rows, int width) {
        long[] ids = new long[rows.size() * width];
        for (int j = 0; j < rows.size(); j++) {
            int[] r = rows.get(j);
            for (int i = 0; i < r.length; i++) {
                ids[j * width + i] = r[i];
            }
        }
        return ids;
    }

    /** [N, 1, width]: 1 for the first lengths[j] positions of row j, 0 after. */
    private NDArray lengthMask(int[] lengths, int width) {
        float[] m = new float[lengths.length * width];
        for (int j = 0; j < lengths.length; j++) {
            Arrays.fill(m, j * width, j * width + lengths[j], 1f);
        }
        return manager.create(m, new ai.djl.ndarray.types.Shape(lengths.length, 1, width));
    }

    private static NDArray masked(NDArray x, NDArray mask) {
        return mask == null ? x : x.mul(mask);
    }

    /** fairseq VariancePredictor, then clamp(round(exp(x) - 1), min 1) with round-half-even. */
    int[] predictDurations(NDArray embedded) {
        float[] logDur;
        try (NDArray out = Ops.scoped(() -> {
            NDArray x = embedded.transpose(1, 0).expandDims(0);
            x = Ops.conv1d(x, durConv1, durConv1Bias, 1, durPad, 1).getNDArrayInternal().relu();
            x = Ops.layerNorm(x.squeeze(0).transpose(1, 0), durLn1Weight, durLn1Bias, LN_EPS);
            x = Ops.conv1d(x.transpose(1, 0).expandDims(0), durConv2, durConv2Bias, 1, durPad, 1)
                    .getNDArrayInternal().relu();
            x = Ops.layerNorm(x.squeeze(0).transpose(1, 0), durLn2Weight, durLn2Bias, LN_EPS);
            return Ops.linear(x, durProj, durProjBias).reshape(-1);
        })) {
            logDur = out.toFloatArray();
        }
        int[] durations = new int[logDur.length];
        for (int i = 0; i < durations.length; i++) {
            durations[i] = (int) Math.max(1, Math.rint(Math.exp(logDur[i]) - 1));
        }
        return durations;
    }

    /**
     * HiFi-GAN generator on expanded embeddings [N, emb, frames] -> waveforms, flattened [N * frames * hop]. mask
     * (nullable; [N, 1, frames]) zeroes each convolution's input past each sequence's end (padded batches).
     */
    private NDArray generate(NDArray frames, NDArray mask) {
        // conv_pre
        NDArray x = Ops.conv1d(masked(frames, mask), convPre, convPreBias, 1, 3, 1);
        int kernels = config.resblockKernelSizes().size();
        for (int i = 0; i < ups.size(); i++) {
            // leaky ReLU, transposed-conv upsampling by u_i
            int u = config.upsampleRates().get(i);
            int k = config.upsampleKernelSizes().get(i);
            x = Ops.convTranspose1d(masked(Ops.leakyRelu(x, LRELU_SLOPE), mask), ups.get(i), upsBias.get(i), u,
                    (k - u) / 2);
            // the mask at the new rate: each position repeated u_i times
            mask = mask == null ? null : mask.repeat(2, u);
            // mean of the multi-receptive-field residual blocks
            NDArray sum = null;
            for (int j = 0; j < kernels; j++) {
                NDArray r = resblocks.get(i * kernels + j).forward(x, mask);
                sum = sum == null ? r : sum.add(r);
            }
            x = sum.div(kernels);
        }
        // leaky ReLU with PyTorch's default slope 0.01, conv_post, tanh
        x = Ops.conv1d(masked(Ops.leakyRelu(x, 0.01f), mask), convPost, convPostBias, 1, 3, 1);
        return x.tanh().reshape(-1);
    }

    /** w = g * v / ||v||, the norm over every axis but 0; a plain {@code .weight} is taken as is. */
    static NDArray weightNorm(TensorSource src, NDManager m, String prefix, long d0, long d1, long k) {
        TensorInfo plain = src.info(prefix + ".weight");
        if (plain != null && src.info(prefix + ".weight_v") == null) {
            return src.load(m, prefix + ".weight", DataType.FLOAT32, d0, d1, k);
        }
        try (NDArray v = src.load(m, prefix + ".weight_v", DataType.FLOAT32, d0, d1, k);
                NDArray g = src.load(m, prefix + ".weight_g", DataType.FLOAT32, d0, 1, 1);
                NDArray norm = v.square().sum(new int[] {1, 2}, true).sqrt()) {
            return Ops.scoped(() -> v.mul(g.div(norm)));
        }
    }
}
