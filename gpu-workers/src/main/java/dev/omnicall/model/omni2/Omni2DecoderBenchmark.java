package dev.omnicall.model.omni2;

import static dev.omnicall.model.tools.BenchmarkFigures.loadAverage;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.omnicall.model.TorchThreads;
import dev.omnicall.model.io.DType;
import dev.omnicall.model.io.TensorInfo;
import dev.omnicall.model.io.TensorSource;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * Units → 24 kHz audio at CosyVoice2's published sizes with random weights (flow: encoder 512 wide with 6 + 4
 * conformer layers, estimator 256 wide with 12 mid stages, 10 Euler steps with CFG as a batch of 2; HiFT: 512
 * base channels), whole reply at once, on the CPU or a GPU. Prints the time of the flow and of HiFT and their
 * real-time factors for a reply of {@code bench.units} units (default 50 = 2 s), best of {@code bench.runs}
 * after one warm-up, then one {@code key=value} line. Options: {@code -Dbench.units=50 -Dbench.runs=2
 * -Dbench.device=cpu -Domnicall.worker.torch-threads=auto}.
 */
public final class Omni2DecoderBenchmark {
    private Omni2DecoderBenchmark() {
    }

    public static void main(String[] args) {
        int units = Integer.getInteger("bench.units", 50);
        int runs = Integer.getInteger("bench.runs", 2);
        String device = System.getProperty("bench.device", "cpu");
        String load0 = loadAverage();
        TorchThreads.Started threads = TorchThreads.start(System.getProperty(TorchThreads.KEY, TorchThreads.AUTO),
                !device.equals("cpu"));
        try (NDManager m = NDManager.newBaseManager(ai.djl.Device.fromName(device))) {
            Map<String, long[]> flowShapes = new LinkedHashMap<>(FlowEncoderConfig.cosyVoice2().tensorShapes());
            flowShapes.put("spk_embed_affine_layer.weight", new long[] {80, 192});
            flowShapes.put("spk_embed_affine_layer.bias", new long[] {80});
            flowShapes.putAll(FlowEstimator.Config.cosyVoice2().tensorShapes());
            ShapedRandomSource flowSource = new ShapedRandomSource(flowShapes, 1);
            FlowMatching flow = new FlowMatching(flowSource, m, new FlowEncoder(flowSource, m,
                    FlowEncoderConfig.cosyVoice2()), new FlowEstimator(flowSource, m, FlowEstimator.Config.cosyVoice2()),
                    192, 10, 0.7, FlowMatching.DEFAULT_NOISE_SEED);
            HiftVocoder hift = new HiftVocoder(new ShapedRandomSource(HiftConfig.cosyVoice2().tensorShapes(), 2), m,
                    HiftConfig.cosyVoice2(), SourcePins.defaults());
            SplittableRandom r = new SplittableRandom(5);
            long[] tokens = r.longs(units, 0, 6561).toArray();
            float[] xvector = new float[192];
            for (int i = 0; i < xvector.length; i++) {
                xvector[i] = (float) r.nextGaussian();
            }
            double bestFlow = Double.MAX_VALUE;
            double bestHift = Double.MAX_VALUE;
            double audioSeconds = 0;
            for (int run = 0; run <= runs; run++) {
                try (NDManager scope = m.newSubManager()) {
                    long t0 = System.nanoTime();
                    NDArray mel = flow.mel(scope, tokens, xvector);
                    float[] melValues = mel.toFloatArray(); // also waits for the device
                    long t1 = System.nanoTime();
                    // the random flow's mel is not a mel: scale it into a log-mel-like range for HiFT
                    for (int i = 0; i < melValues.length; i++) {
                        melValues[i] = Math.max(-11f, Math.min(2f, melValues[i] - 5f));
                    }
                    float[] audio = hift.synthesize(melValues, (int) mel.getShape().get(1)).audio();
                    long t2 = System.nanoTime();
                    audioSeconds = audio.length / (double) hift.sampleRate();
                    if (run > 0) {
                        bestFlow = Math.min(bestFlow, (t1 - t0) / 1e6);
                        bestHift = Math.min(bestHift, (t2 - t1) / 1e6);
                    }
                    System.out.printf("run %d%s: flow %.1f ms, hift %.1f ms, %.2f s of audio%n", run,
                            run == 0 ? " (warm-up)" : "", (t1 - t0) / 1e6, (t2 - t1) / 1e6, audioSeconds);
                }
            }
            String load1 = loadAverage();
            System.out.printf("%n| CosyVoice2-sized decoder, random weights, %s, %d intra-op thread(s), %d units | figure |%n",
                    device, threads.intraOp(), units);
            System.out.println("|---|---|");
            System.out.printf("| flow (encoder + 10 Euler steps, CFG batch of 2), best of %d | %.1f ms (RTF %.2f) |%n", runs,
                    bestFlow, bestFlow / 1000 / audioSeconds);
            System.out.printf("| HiFT (f0, source, decode, iSTFT) | %.1f ms (RTF %.2f) |%n", bestHift,
                    bestHift / 1000 / audioSeconds);
            System.out.printf("| audio | %.2f s |%n", audioSeconds);
            System.out.printf("load_start=%s device=%s threads=%d units=%d audio_s=%.2f flow_ms=%.1f hift_ms=%.1f "
                    + "rtf_flow=%.3f rtf_hift=%.3f rtf=%.3f load_end=%s%n", load0, device, threads.intraOp(), units,
                    audioSeconds, bestFlow, bestHift, bestFlow / 1000 / audioSeconds, bestHift / 1000 / audioSeconds,
                    (bestFlow + bestHift) / 1000 / audioSeconds, load1);
        }
    }

    /**
     * Random weights for a fixed list of names and shapes (biases 0, 1-D weights 1, weight-norm gains 1,
     * matrices N(0, 1/fan_in)); names outside the list are absent, so loaders see a complete checkpoint.
     */
    static final class ShapedRandomSource implements TensorSource {
        private final Map<String, long[]> shapes;
        private final long seed;

        ShapedRandomSource(Map<String, long[]> shapes, long seed) {
            this.shapes = shapes;
            this.seed = seed;
        }

        @Override
        public Set<String> names() {
            return shapes.keySet();
        }

        @Override
        public TensorInfo info(String name) {
            long[] s = shapes.get(name);
            return s == null ? null : new TensorInfo(name, DType.F32, s, Path.of("random"), 0,
                    4 * Arrays.stream(s).reduce(1, (a, b) -> a * b));
        }

        @Override
        public NDArray load(NDManager manager, String name, DataType target, long... expectedShape) {
            require(name, expectedShape);
            Shape s = new Shape(expectedShape);
            if (name.endsWith(".bias")) {
                return manager.zeros(s, target);
            }
            if (expectedShape.length == 1 || name.endsWith("weight_g")) {
                return manager.ones(s, target);
            }
            manager.getEngine().setRandomSeed((int) (seed ^ name.hashCode()));
            long fanIn = s.size() / expectedShape[0];
            double std = name.contains("embedding") ? 1.0 : 1.0 / Math.sqrt(fanIn);
            return manager.randomNormal(0f, (float) std, s, target);
        }

        @Override
        public void close() {
            // nothing held
        }
    }
}
