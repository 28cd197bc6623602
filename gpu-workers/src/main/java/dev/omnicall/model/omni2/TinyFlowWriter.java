package dev.omnicall.model.omni2;

import dev.omnicall.model.io.TorchCheckpointWriter;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Writes a small random {@code flow.pt} in the published layout: a top-level state dict with flow.pt's tensor
 * names (encoder, speaker affine layer, estimator) at the sizes given. Deterministic for a seed. Norm weights near
 * 1, small biases and relative-position biases, other weights scaled by 1/√fan-in, the unit embedding standard
 * normal.
 */
public final class TinyFlowWriter {
    /** The tiny flow of the Omni2 tiny checkpoint: 32 wide, chunks of 4 tokens / 8 frames, estimator 16 wide. */
    public static final FlowEncoderConfig ENCODER = new FlowEncoderConfig(64, 32, 2, 48, 2, 2, 3, 2, 80, 4);
    public static final FlowEstimator.Config ESTIMATOR = new FlowEstimator.Config(320, 80, 16, 2, 8, 1, 2, 8);
    public static final int XVECTOR = 192;

    private TinyFlowWriter() {
    }

    /** Every tensor of a flow.pt with these sizes and an x-vector of {@code xvector}, in file order. */
    public static Map<String, long[]> shapes(FlowEncoderConfig encoder, FlowEstimator.Config estimator, int xvector) {
        Map<String, long[]> shapes = new LinkedHashMap<>(encoder.tensorShapes());
        shapes.put("spk_embed_affine_layer.weight", new long[] {encoder.melBins(), xvector});
        shapes.put("spk_embed_affine_layer.bias", new long[] {encoder.melBins()});
        shapes.putAll(estimator.tensorShapes());
        return shapes;
    }

    /** The tiny flow ({@link #ENCODER}, {@link #ESTIMATOR}, {@link #XVECTOR}). */
    public static void write(Path file, long seed) throws IOException {
        write(file, shapes(ENCODER, ESTIMATOR, XVECTOR), null, seed);
    }

    /** Random weights for the shapes; {@code skip} (may be null) is left out. */
    public static void write(Path file, Map<String, long[]> shapes, String skip, long seed) throws IOException {
        SplittableRandom r = new SplittableRandom(seed);
        TorchCheckpointWriter w = new TorchCheckpointWriter();
        for (Map.Entry<String, long[]> e : shapes.entrySet()) {
            String name = e.getKey();
            long[] s = e.getValue();
            int n = 1;
            for (long d : s) {
                n *= (int) d;
            }
            long fanIn = s.length == 3 ? s[1] * s[2] : s.length == 2 ? s[1] : 1;
            boolean norm = name.contains("norm") || name.contains(".out.1.");
            float[] v = new float[n];
            for (int i = 0; i < n; i++) {
                double g = r.nextGaussian();
                v[i] = (float) (name.equals("input_embedding.weight") ? g
                        : norm && name.endsWith(".weight") ? 1 + 0.1 * g
                        : name.endsWith(".bias") || name.contains("pos_bias") ? 0.1 * g
                        : g / Math.sqrt(fanIn));
            }
            if (!name.equals(skip)) {
                w.put(name, s, v);
            }
        }
        w.write(file, null);
    }
}
