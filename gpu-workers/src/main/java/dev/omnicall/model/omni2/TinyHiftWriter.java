package dev.omnicall.model.omni2;

import dev.omnicall.model.io.TorchCheckpointWriter;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Writes a small random {@code hift.pt} in the published layout: a top-level state dict (as
 * {@code torch.save(hift.state_dict())} makes it) with every one of the 328 tensor names of CosyVoice2's
 * HiFT, at reduced widths (conv_pre 32 channels, stages 16/8/4, f0 predictor 16) and CosyVoice2's
 * structure otherwise. Deterministic for a seed; the values do not depend on the naming options, so the
 * same weights can be written with old-style or parametrization weight norm and with a {@code generator.}
 * prefix. Scales are chosen so the tiny vocoder behaves like a vocoder: unit-norm conv rows, Snake α near
 * 1, and an f0 classifier whose output crosses the 10 Hz voicing threshold (both voiced and unvoiced
 * frames occur on a log-mel-like input).
 */
public final class TinyHiftWriter {
    public static final int BASE_CHANNELS = 32;
    public static final int F0_CHANNELS = 16;

    /** How weight norm's two tensors are named. */
    public enum WeightNormNaming {
        /** {@code weight_g}, {@code weight_v} (torch.nn.utils.weight_norm; what CosyVoice's code saves). */
        WEIGHT_G_V,
        /** {@code parametrizations.weight.original0} (g) and {@code original1} (v) (the newer API). */
        PARAMETRIZATIONS
    }

    private TinyHiftWriter() {
    }

    /** The tiny config: CosyVoice2's structure at {@link #BASE_CHANNELS} / {@link #F0_CHANNELS}. */
    public static HiftConfig config() {
        return HiftConfig.cosyVoice2().withChannels(80, BASE_CHANNELS, F0_CHANNELS);
    }

    public static void write(Path file, long seed) throws IOException {
        write(file, seed, WeightNormNaming.WEIGHT_G_V, "");
    }

    /** Writes the tiny weights of {@code seed} with the given naming, every name prefixed by {@code prefix}. */
    public static void write(Path file, long seed, WeightNormNaming naming, String prefix) throws IOException {
        HiftConfig c = config();
        SplittableRandom r = new SplittableRandom(seed);
        TorchCheckpointWriter w = new TorchCheckpointWriter();
        for (Map.Entry<String, long[]> e : c.tensorShapes().entrySet()) {
            String name = e.getKey();
            long[] shape = e.getValue();
            float[] values = values(r, name, shape, c);
            w.put(prefix + rename(name, naming), shape, values);
        }
        w.write(file, null);
    }

    private static String rename(String name, WeightNormNaming naming) {
        if (naming == WeightNormNaming.PARAMETRIZATIONS) {
            if (name.endsWith(".weight_g")) {
                return name.substring(0, name.length() - ".weight_g".length()) + ".parametrizations.weight.original0";
            }
            if (name.endsWith(".weight_v")) {
                return name.substring(0, name.length() - ".weight_v".length()) + ".parametrizations.weight.original1";
            }
        }
        return name;
    }

    private static float[] values(SplittableRandom r, String name, long[] shape, HiftConfig c) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        float[] v = new float[(int) n];
        long fanIn = shape.length == 3 ? shape[1] * shape[2] : shape.length == 2 ? shape[1] : 1;
        for (int i = 0; i < v.length; i++) {
            double x;
            if (name.equals("conv_post.weight_g")) {
                x = 0.2 + 0.1 * r.nextDouble(); // small log-magnitude and phase swings
            } else if (name.equals("conv_post.bias")) {
                x = i < c.nFft() / 2 + 1 ? -4 : 0; // magnitude e^-4: audio well inside the ±0.99 clamp
            } else if (name.endsWith(".weight_g")) {
                x = 0.7 + 0.6 * r.nextDouble(); // row norms near 1
            } else if (name.endsWith(".weight_v")) {
                x = r.nextGaussian();
            } else if (name.endsWith(".alpha")) {
                x = 0.5 + r.nextDouble();
            } else if (name.equals("f0_predictor.classifier.weight")) {
                x = r.nextGaussian() * 40 / Math.sqrt(c.f0Channels()); // f0 spread of tens of Hz
            } else if (name.equals("f0_predictor.classifier.bias")) {
                x = 5;
            } else if (name.equals("m_source.l_linear.weight")) {
                x = r.nextGaussian() * 2;
            } else if (name.endsWith(".bias")) {
                x = r.nextGaussian() * 0.05;
            } else {
                x = r.nextGaussian() / Math.sqrt(fanIn); // source_downs: plain conv weights
            }
            v[i] = (float) x;
        }
        return v;
    }
}
