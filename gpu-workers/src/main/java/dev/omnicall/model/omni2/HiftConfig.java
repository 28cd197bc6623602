package dev.omnicall.model.omni2;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The HiFTGenerator settings of the cosy2_decoder (CosyVoice2's hift block; CHECKPOINT-OMNI2.md "HiFT").
 * {@code hift.pt} carries no configuration and the yaml that does is hyperpyyaml, so the structural values
 * are {@link #cosyVoice2()}'s and only the channel widths are taken from the file's tensors
 * ({@link #withChannels}), which lets a tiny test file use the published names at reduced widths.
 *
 * @param melBins input mel channels (80)
 * @param baseChannels conv_pre's output channels (512); stage i has baseChannels / 2^(i+1)
 * @param f0Channels the f0 predictor's condnet width (512)
 * @param harmonics harmonic overtones above the fundamental (8: 9 sines)
 * @param sampleRate output rate (24000)
 * @param sineAmp the NSF sine amplitude (0.1); unvoiced noise is sineAmp / 3
 * @param noiseStd the NSF noise deviation in voiced samples (0.003)
 * @param voicedThreshold f0 in Hz above which a sample is voiced (10)
 * @param upsampleRates ups strides (8, 5, 3)
 * @param upsampleKernels ups kernels (16, 11, 7)
 * @param nFft the iSTFT size (16): conv_post has nFft + 2 channels
 * @param hop the iSTFT hop (4)
 * @param resblockKernels the main resblocks' kernels per stage (3, 7, 11)
 * @param resblockDilations their dilations ((1,3,5) each)
 * @param sourceResblockKernels one source resblock per stage (7, 7, 11)
 * @param sourceResblockDilations their dilations ((1,3,5) each)
 * @param lreluSlope leaky ReLU slope before each ups (0.1)
 * @param audioLimit the final clamp (0.99)
 */
public record HiftConfig(int melBins, int baseChannels, int f0Channels, int harmonics, int sampleRate,
        float sineAmp, float noiseStd, float voicedThreshold, List<Integer> upsampleRates,
        List<Integer> upsampleKernels, int nFft, int hop, List<Integer> resblockKernels,
        List<List<Integer>> resblockDilations, List<Integer> sourceResblockKernels,
        List<List<Integer>> sourceResblockDilations, float lreluSlope, float audioLimit) {

    public HiftConfig {
        upsampleRates = List.copyOf(upsampleRates);
        upsampleKernels = List.copyOf(upsampleKernels);
        resblockKernels = List.copyOf(resblockKernels);
        resblockDilations = resblockDilations.stream().map(List::copyOf).toList();
        sourceResblockKernels = List.copyOf(sourceResblockKernels);
        sourceResblockDilations = sourceResblockDilations.stream().map(List::copyOf).toList();
        require(melBins > 0 && f0Channels > 0 && harmonics >= 0 && sampleRate > 0, "melBins, f0Channels and "
                + "sampleRate must be positive and harmonics not negative");
        require(!upsampleRates.isEmpty() && upsampleRates.size() == upsampleKernels.size(),
                "upsampleRates and upsampleKernels must be non-empty and of equal length");
        for (int i = 0; i < upsampleRates.size(); i++) {
            int u = upsampleRates.get(i);
            int k = upsampleKernels.get(i);
            require(u > 0 && k >= u && (k - u) % 2 == 0, "ups." + i + ": kernel " + k + " and rate " + u
                    + " must satisfy kernel >= rate with (kernel - rate) even");
        }
        require(baseChannels >> upsampleRates.size() >= 1, "baseChannels " + baseChannels + " cannot be halved "
                + upsampleRates.size() + " times");
        require(nFft > 0 && hop > 0 && nFft % hop == 0 && nFft % 2 == 0, "nFft " + nFft + " must be even and a "
                + "multiple of hop " + hop);
        require(resblockKernels.size() == resblockDilations.size() && !resblockKernels.isEmpty(),
                "resblockKernels and resblockDilations must be non-empty and of equal length");
        require(sourceResblockKernels.size() == upsampleRates.size()
                && sourceResblockDilations.size() == upsampleRates.size(),
                "one source resblock (kernel and dilations) per upsampling stage");
    }

    /** CosyVoice2-0.5B's hift (the example yaml plus class defaults; spec table: 328 tensors, 20.82 M). */
    public static HiftConfig cosyVoice2() {
        List<Integer> d = List.of(1, 3, 5);
        return new HiftConfig(80, 512, 512, 8, 24000, 0.1f, 0.003f, 10f, List.of(8, 5, 3), List.of(16, 11, 7),
                16, 4, List.of(3, 7, 11), List.of(d, d, d), List.of(7, 7, 11), List.of(d, d, d), 0.1f, 0.99f);
    }

    /** The same structure at other widths (what {@code hift.pt}'s conv_pre and condnet.0 say). */
    public HiftConfig withChannels(int melBins, int baseChannels, int f0Channels) {
        return new HiftConfig(melBins, baseChannels, f0Channels, harmonics, sampleRate, sineAmp, noiseStd,
                voicedThreshold, upsampleRates, upsampleKernels, nFft, hop, resblockKernels, resblockDilations,
                sourceResblockKernels, sourceResblockDilations, lreluSlope, audioLimit);
    }

    /** Output samples per mel frame: prod(upsampleRates) * hop (480 = 20 ms at 24 kHz). */
    public int samplesPerFrame() {
        return upsampleRates.stream().reduce(1, (a, b) -> a * b) * hop;
    }

    /** Channels after ups.i. */
    public int stageChannels(int i) {
        return baseChannels >> (i + 1);
    }

    /** conv_post's channels: magnitude and phase of nFft/2 + 1 bins. */
    public int postChannels() {
        return nFft + 2;
    }

    /**
     * source_downs.i's stride: the cumulative product of the reversed upsampling rates, so that stage i's
     * source matches the length after ups.i (CosyVoice2: 15, 3, 1).
     */
    public int sourceDownRate(int i) {
        int n = upsampleRates.size();
        int rate = 1;
        for (int j = i + 1; j < n; j++) {
            rate *= upsampleRates.get(j);
        }
        return rate;
    }

    /**
     * Every tensor of {@code hift.pt} in the published names (old-style weight norm: {@code weight_g} /
     * {@code weight_v}) with its shape at this config's widths, in module order.
     */
    public Map<String, long[]> tensorShapes() {
        Map<String, long[]> s = new LinkedHashMap<>();
        weightNorm(s, "conv_pre", baseChannels, melBins, 7);
        s.put("conv_pre.bias", new long[] {baseChannels});
        for (int i = 0; i < upsampleRates.size(); i++) {
            int in = baseChannels >> i;
            int out = stageChannels(i);
            // ConvTranspose1d weights are [in, out, k]; weight_norm's dim 0 makes g [in, 1, 1]
            weightNorm(s, "ups." + i, in, out, upsampleKernels.get(i));
            s.put("ups." + i + ".bias", new long[] {out});
        }
        for (int i = 0; i < upsampleRates.size(); i++) {
            int u = sourceDownRate(i);
            s.put("source_downs." + i + ".weight", new long[] {stageChannels(i), postChannels(), u == 1 ? 1 : 2L * u});
            s.put("source_downs." + i + ".bias", new long[] {stageChannels(i)});
        }
        for (int i = 0; i < upsampleRates.size(); i++) {
            resblock(s, "source_resblocks." + i, stageChannels(i), sourceResblockKernels.get(i),
                    sourceResblockDilations.get(i).size());
        }
        for (int i = 0; i < upsampleRates.size(); i++) {
            for (int j = 0; j < resblockKernels.size(); j++) {
                resblock(s, "resblocks." + (i * resblockKernels.size() + j), stageChannels(i), resblockKernels.get(j),
                        resblockDilations.get(j).size());
            }
        }
        int last = stageChannels(upsampleRates.size() - 1);
        weightNorm(s, "conv_post", postChannels(), last, 7);
        s.put("conv_post.bias", new long[] {postChannels()});
        s.put("m_source.l_linear.weight", new long[] {1, harmonics + 1});
        s.put("m_source.l_linear.bias", new long[] {1});
        for (int i = 0; i < 5; i++) {
            weightNorm(s, "f0_predictor.condnet." + (2 * i), f0Channels, i == 0 ? melBins : f0Channels, 3);
            s.put("f0_predictor.condnet." + (2 * i) + ".bias", new long[] {f0Channels});
        }
        s.put("f0_predictor.classifier.weight", new long[] {1, f0Channels});
        s.put("f0_predictor.classifier.bias", new long[] {1});
        return s;
    }

    private static void resblock(Map<String, long[]> s, String p, int ch, int kernel, int dilations) {
        for (int m = 0; m < dilations; m++) {
            weightNorm(s, p + ".convs1." + m, ch, ch, kernel);
            s.put(p + ".convs1." + m + ".bias", new long[] {ch});
            weightNorm(s, p + ".convs2." + m, ch, ch, kernel);
            s.put(p + ".convs2." + m + ".bias", new long[] {ch});
        }
        for (int m = 0; m < dilations; m++) {
            s.put(p + ".activations1." + m + ".alpha", new long[] {ch});
            s.put(p + ".activations2." + m + ".alpha", new long[] {ch});
        }
    }

    private static void weightNorm(Map<String, long[]> s, String p, long d0, long d1, long k) {
        s.put(p + ".weight_g", new long[] {d0, 1, 1});
        s.put(p + ".weight_v", new long[] {d0, d1, k});
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException("hift config: " + message);
        }
    }
}
