package dev.omnicall.model.omni2;

import static dev.omnicall.model.tools.BenchmarkFigures.loadAverage;

import ai.djl.ndarray.NDManager;
import dev.omnicall.model.TorchThreads;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The streamed decoder's cost per chunk along a reply: units → 24 kHz audio through {@link SpeechStream}, W
 * units per push, with random weights at CosyVoice2's published sizes ({@code -Dbench.shapes=cosyvoice2}, the
 * default) or the tests' tiny ones ({@code tiny}). Times the push that brings unit {@code bench.early} (40)
 * and the one that brings unit {@code bench.late} (400), best of {@code bench.runs} streams after a warm-up
 * stream, with the rows each stage ran over; then, unless {@code -Dbench.reference=false}, the reference's
 * way for the same two pushes (the flow over every unit so far). Ends with one {@code key=value} line.
 * Options: {@code -Dbench.units=400 -Dbench.w=10 -Dbench.runs=2 -Dbench.device=cpu
 * -Dbench.context-tokens=25 -Domnicall.worker.torch-threads=auto}.
 */
public final class Omni2StreamBenchmark {
    private Omni2StreamBenchmark() {
    }

    public static void main(String[] args) {
        int w = Integer.getInteger("bench.w", 10);
        int early = Integer.getInteger("bench.early", 40);
        int late = Integer.getInteger("bench.late", 400);
        int units = Integer.getInteger("bench.units", late);
        int runs = Integer.getInteger("bench.runs", 2);
        int contextTokens = Integer.getInteger("bench.context-tokens", SpeechStream.DEFAULT_CONTEXT_TOKENS);
        boolean tiny = System.getProperty("bench.shapes", "cosyvoice2").equals("tiny");
        boolean reference = Boolean.parseBoolean(System.getProperty("bench.reference", "true"));
        String device = System.getProperty("bench.device", "cpu");
        if (early % w != 0 || late % w != 0 || late > units) {
            throw new IllegalArgumentException("bench.early and bench.late must be multiples of bench.w and at most "
                    + "bench.units, got " + early + ", " + late + ", " + w + ", " + units);
        }
        String load0 = loadAverage();
        TorchThreads.Started threads = TorchThreads.start(System.getProperty(TorchThreads.KEY, TorchThreads.AUTO),
                !device.equals("cpu"));
        try (NDManager m = NDManager.newBaseManager(ai.djl.Device.fromName(device))) {
            FlowEncoderConfig encoderConfig = tiny ? new FlowEncoderConfig(6561, 32, 2, 48, 2, 2, 3, 2, 80, 50)
                    : FlowEncoderConfig.cosyVoice2();
            FlowEstimator.Config estimatorConfig = tiny ? new FlowEstimator.Config(320, 80, 16, 2, 8, 1, 2, 100)
                    : FlowEstimator.Config.cosyVoice2();
            HiftConfig hiftConfig = tiny ? TinyHiftWriter.config() : HiftConfig.cosyVoice2();
            Map<String, long[]> flowShapes = new LinkedHashMap<>(encoderConfig.tensorShapes());
            flowShapes.put("spk_embed_affine_layer.weight", new long[] {80, 192});
            flowShapes.put("spk_embed_affine_layer.bias", new long[] {80});
            flowShapes.putAll(estimatorConfig.tensorShapes());
            Omni2DecoderBenchmark.ShapedRandomSource flowSource = new Omni2DecoderBenchmark.ShapedRandomSource(flowShapes, 1);
            FlowMatching flow = new FlowMatching(flowSource, m, new FlowEncoder(flowSource, m, encoderConfig),
                    new FlowEstimator(flowSource, m, estimatorConfig), 192, 10, 0.7, FlowMatching.DEFAULT_NOISE_SEED);
            HiftVocoder hift = new HiftVocoder(new Omni2DecoderBenchmark.ShapedRandomSource(hiftConfig.tensorShapes(), 2),
                    m, hiftConfig, SourcePins.defaults());
            SplittableRandom r = new SplittableRandom(5);
            long[] tokens = r.longs(units, 0, encoderConfig.vocabSize()).toArray();
            float[] xvector = new float[192];
            for (int i = 0; i < xvector.length; i++) {
                xvector[i] = (float) r.nextGaussian();
            }
            // streams: push by push, the two pushes of interest timed
            double bestEarly = Double.MAX_VALUE;
            double bestLate = Double.MAX_VALUE;
            SpeechStream.Work workEarly = null;
            SpeechStream.Work workLate = null;
            long samples = 0;
            for (int run = 0; run <= runs; run++) {
                SpeechStream stream = new SpeechStream(flow, hift, m, xvector, contextTokens);
                samples = 0;
                for (int at = w; at <= units; at += w) {
                    long t0 = System.nanoTime();
                    samples += stream.push(Arrays.copyOfRange(tokens, at - w, at)).length; // waits for the device
                    double ms = (System.nanoTime() - t0) / 1e6;
                    if (at == early && run > 0) {
                        bestEarly = Math.min(bestEarly, ms);
                        workEarly = stream.lastWork();
                    }
                    if (at == late && run > 0) {
                        bestLate = Math.min(bestLate, ms);
                        workLate = stream.lastWork();
                    }
                }
                samples += stream.finish().length;
                System.out.printf("stream %d%s: push at unit %d %.1f ms, at unit %d %.1f ms, %d samples%n", run,
                        run == 0 ? " (warm-up)" : "", early, run == 0 ? Double.NaN : bestEarly, late,
                        run == 0 ? Double.NaN : bestLate, samples);
            }
            double referenceEarly = Double.NaN;
            double referenceLate = Double.NaN;
            if (reference) {
                referenceEarly = referencePush(flow, hift, m, tokens, early, xvector);
                referenceLate = referencePush(flow, hift, m, tokens, late, xvector);
            }
            String load1 = loadAverage();
            double ratio = bestLate / bestEarly;
            System.out.printf("%n| %s decoder, random weights, %s, %d intra-op thread(s), W=%d, context %d tokens "
                    + "| push at unit %d | push at unit %d | ratio |%n", tiny ? "tiny" : "CosyVoice2-sized", device,
                    threads.intraOp(), w, contextTokens, early, late);
            System.out.println("|---|---|---|---|");
            System.out.printf("| streamed (this port), best of %d | %.1f ms | %.1f ms | %.2f |%n", runs, bestEarly, bestLate,
                    ratio);
            System.out.printf("| rows: encoder tokens / estimator frames / HiFT frames | %d / %d / %d | %d / %d / %d | |%n",
                    workEarly.encoderTokens(), workEarly.estimatorFrames(), workEarly.hiftFrames(),
                    workLate.encoderTokens(), workLate.estimatorFrames(), workLate.hiftFrames());
            if (reference) {
                System.out.printf("| reference (flow over every unit so far), one run | %.1f ms | %.1f ms | %.2f |%n",
                        referenceEarly, referenceLate, referenceLate / referenceEarly);
            }
            System.out.printf("load_start=%s device=%s threads=%d shapes=%s units=%d w=%d context_tokens=%d "
                    + "samples=%d push%d_ms=%.1f push%d_ms=%.1f ratio=%.3f estimator_frames=%d/%d "
                    + "reference%d_ms=%.1f reference%d_ms=%.1f load_end=%s%n", load0, device, threads.intraOp(),
                    tiny ? "tiny" : "cosyvoice2", units, w, contextTokens, samples, early, bestEarly, late,
                    bestLate, ratio, workEarly.estimatorFrames(), workLate.estimatorFrames(), early, referenceEarly, late,
                    referenceLate, load1);
        }
    }

    /** The reference's push that brings unit n: the flow over units [0, n), HiFT over 8 + the new frames. */
    private static double referencePush(FlowMatching flow, HiftVocoder hift, NDManager m, long[] tokens, int n,
            float[] xvector) {
        try (NDManager scope = m.newSubManager()) {
            long t0 = System.nanoTime();
            float[] mel = flow.mel(scope, Arrays.copyOf(tokens, n), xvector).toFloatArray();
            int frames = mel.length / 80;
            int keep = Math.min(frames, 8 + 20);
            float[] window = new float[80 * keep]; // the first frames stand in for the last: the cost is the same
            for (int b = 0; b < 80; b++) {
                System.arraycopy(mel, b * frames, window, b * keep, keep);
            }
            hift.synthesize(window, keep);
            return (System.nanoTime() - t0) / 1e6;
        }
    }
}
