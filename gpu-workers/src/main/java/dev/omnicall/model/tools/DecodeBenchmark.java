package dev.omnicall.model.tools;

import static dev.omnicall.model.tools.BenchmarkFigures.fixed;
import static dev.omnicall.model.tools.BenchmarkFigures.keyValueLine;
import static dev.omnicall.model.tools.BenchmarkFigures.loadAverage;
import static dev.omnicall.model.tools.BenchmarkFigures.nearestRank;
import static dev.omnicall.model.tools.BenchmarkFigures.upperMedian;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import dev.omnicall.model.KvCache;
import dev.omnicall.model.KvPool;
import dev.omnicall.model.LlamaModel;
import dev.omnicall.model.ModelOptions;
import dev.omnicall.model.Ops;
import dev.omnicall.model.SequenceCache;
import dev.omnicall.model.omni.CtcUnitDecoder;
import dev.omnicall.model.omni.GenerationOptions;
import dev.omnicall.model.omni.OmniConfig;
import dev.omnicall.model.omni.OmniModel;
import dev.omnicall.model.omni.SpeechGenerator;
import dev.omnicall.model.omni.StepResult;
import dev.omnicall.model.omni.TinyCheckpointWriter;
import dev.omnicall.model.omni.TurnGenerator;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The batched serving engine's decode step, before (per-sequence caches, {@link LlamaModel#decodeBatch}: attention
 * in a Java loop, one sequence at a time) and after (a {@link KvPool}, {@link LlamaModel#decode}: one write, one
 * gather and one batched attention per layer), in one run:
 * <ol>
 * <li>native tensor operations per LLM decode step for B = 1, 8, 32, 64 (tiny checkpoint), counted with libtorch's
 * own profiler through {@link NativeOps#trace} (a chrome trace of every ATen call made in the step): "top" = ATen
 * calls not nested in another ATen call (what the Java side dispatches; on a GPU each launches one or more kernels),
 * "all" = every ATen call, nested ones included;</li>
 * <li>the decode step's wall time vs B at the tiny shapes (there the cost is dispatch, as on a GPU; median and
 * minimum of --steps steps: on a shared box the minimum is the step without preemption);</li>
 * <li>the same two for one step of the CTC unit decoder of B streams: each alone vs
 * {@link CtcUnitDecoder#stepAll} over a pool;</li>
 * <li>tokens/s of 1 and 8 turns through {@link SpeechGenerator#stepAll} (LLM + CTC unit decoder + vocoder, as the
 * worker runs them; "pool" = LLM pool + CTC pool) on a ~90 M-parameter LLM (1024 wide, 8 layers, 16/4 heads, FFN
 * 2816, random weights) with the tiny speech parts;</li>
 * <li>first audio p50/p95 of 1, 8 and 32 turns arriving together (tiny model; one newcomer started per step, as
 * the worker admits them).</li>
 * </ol>
 * Prints the load average at start and end, ends with one key=value line.
 * <pre>java -cp ... dev.omnicall.model.tools.DecodeBenchmark [--batches 1,8,32,64] [--steps 15] [--tps-steps 12]
 *     [--small true] [--threads 1] [--device cpu]</pre>
 */
public final class DecodeBenchmark {
    private static final Pattern EVENT = Pattern.compile(
            "\"name\":\\s*\"([^\"]*)\"[^}]*?\"ts\":\\s*([0-9.]+),\\s*\"dur\":\\s*([0-9.]+),\\s*\"tid\":\\s*(\\d+)");
    private final Map<String, String> results = new LinkedHashMap<>();

    public static void main(String[] args) throws IOException {
        DumpStages.Args a = new DumpStages.Args(args);
        System.setProperty("ai.djl.pytorch.num_threads", a.get("--threads", "1"));
        System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
        int[] batches = Arrays.stream(a.get("--batches", "1,8,32,64").split(",")).mapToInt(Integer::parseInt).toArray();
        int steps = Integer.parseInt(a.get("--steps", "15"));
        int tpsSteps = Integer.parseInt(a.get("--tps-steps", "12"));
        String device = a.get("--device", "cpu");
        int rounds = Integer.parseInt(a.get("--rounds", "1"));
        boolean profile = Boolean.parseBoolean(a.get("--profile", "false"));
        DecodeBenchmark b = new DecodeBenchmark();
        b.results.put("load_start", loadAverage());
        System.out.println("load average at start: " + loadAverage());
        Path tinyDir = TinyCheckpointWriter.writeIfAbsent(Path.of(".omnicall", "tiny-checkpoint"), 1L);
        ModelOptions options = ModelOptions.defaults().withDevice(device).withPaddedSeconds(0);
        if (Boolean.parseBoolean(a.get("--tiny", "true"))) {
            b.tinyParts(tinyDir, options, batches, steps);
        }
        if (Boolean.parseBoolean(a.get("--small", "true"))) {
            b.smallParts(tinyDir, options, steps, tpsSteps, rounds, profile);
        }
        System.out.println("load average at end: " + loadAverage());
        b.results.put("load_end", loadAverage());
        System.out.println(keyValueLine(b.results));
    }

    private void tinyParts(Path tinyDir, ModelOptions options, int[] batches, int steps) throws IOException {
        try (OmniModel tiny = OmniModel.load(tinyDir, options)) {
            System.out.println("\n== tiny LLM (" + describe(tiny.config()) + "): one decode step of B sequences");
            System.out.println("  B | ops top old | ops top pool | ops all old | ops all pool | step ms old | step ms pool"
                    + " | min ms old | min ms pool");
            for (int bsz : batches) {
                decodeStep("tiny", tiny, bsz, steps);
            }
            ratio(batches);
            System.out.println("\n== tiny model: first audio when N turns arrive together (the worker's policy: one"
                    + " newcomer started per step, then one stepAll of the running turns)");
            for (int n : new int[] {1, 8, 32}) {
                firstAudio(tiny, n, false);
                firstAudio(tiny, n, true);
            }
            System.out.println("\n== tiny CTC unit decoder (" + tiny.config().ctcDecoderConfig() + ", λ "
                    + tiny.ctc().upsampleFactor() + "): one step of B streams, per stream vs CtcUnitDecoder.stepAll");
            System.out.println("  B | ops top old | ops top pool | ops all old | ops all pool | step ms old | step ms pool");
            for (int bsz : batches) {
                ctcStep(tiny, bsz, steps);
            }
        }
    }

    private void smallParts(Path tinyDir, ModelOptions options, int steps, int tpsSteps, int rounds, boolean profile)
            throws IOException {
        OmniConfig small = smallLlm(TinyCheckpointWriter.tinyConfig());
        try (OmniModel model = OmniModel.assemble(small, new RandomWeights(7),
                TinyCheckpointWriter.tinyVocoderConfig(), new RandomWeights(8), tinyDir, options)) {
            System.out.println("\n== small LLM (" + describe(small) + ", random weights): one decode step, LLM only");
            System.out.println("  B | ops top old | ops top pool | ops all old | ops all pool | step ms old | step ms pool"
                    + " | min ms old | min ms pool");
            for (int bsz : new int[] {1, 8}) {
                decodeStep("small", model, bsz, steps);
            }
            System.out.println("\n== small LLM (" + describe(small) + ", random weights): tokens/s through stepAll, "
                    + rounds + " round(s), each 1 and 8 turns on both paths");
            Map<String, List<Double>> tps = new LinkedHashMap<>();
            for (int round = 0; round < rounds; round++) {
                for (int turns : new int[] {1, 8}) {
                    for (boolean pooled : new boolean[] {false, true}) {
                        String key = turns + "_" + (pooled ? "pool" : "old");
                        double t = throughput(model, turns, tpsSteps, pooled);
                        tps.computeIfAbsent(key, k -> new ArrayList<>()).add(t);
                    }
                }
            }
            for (String path : new String[] {"old", "pool"}) {
                double[] one = tps.get("1_" + path).stream().mapToDouble(Double::doubleValue).toArray();
                double[] eight = tps.get("8_" + path).stream().mapToDouble(Double::doubleValue).toArray();
                double[] ratios = new double[rounds];
                for (int i = 0; i < rounds; i++) {
                    ratios[i] = eight[i] / one[i];
                }
                double r = upperMedian(ratios);
                System.out.printf(Locale.ROOT, "small, %s path: 8 turns / 1 turn = %.2fx, median of %d round(s)"
                        + " (goal >= 5x); tokens/s 1 turn %.1f, 8 turns %.1f (medians)%n", path, r, rounds,
                        upperMedian(one), upperMedian(eight));
                results.put("small_tps_1_" + path, fmt(upperMedian(one)));
                results.put("small_tps_8_" + path, fmt(upperMedian(eight)));
                results.put("small_tps_8v1_" + path, fmt(r));
            }
            if (profile) {
                System.out.println("\n== small LLM, where one step's time goes (pool path; libtorch's profiler:"
                        + " top-level ATen calls by name, ms per step, mean of 3 profiled steps)");
                profileLlmStep(model, 1);
                profileLlmStep(model, 8);
                profileStepAll(model, 1);
                profileStepAll(model, 8);
                projectionFloor(small, model.manager());
            }
        }
    }

    /** The ~90 M LLM of the worker benchmark around the tiny speech parts. */
    static OmniConfig smallLlm(OmniConfig t) {
        return new OmniConfig(t.modelType(), 1024, 2816, 16, 4, 8, t.rmsNormEps(), t.ropeTheta(), t.ropeScaling(),
                t.vocabSize(), t.maxPositionEmbeddings(), t.bosTokenId(), t.eosTokenId(), t.tieWordEmbeddings(),
                t.torchDtype(), t.speechEncoderType(), t.speechEncoderDsRate(), t.speechEncoderHiddenSize(),
                t.speechEncoderNumHeads(), t.speechEncoderNumLayers(), t.speechProjectorType(),
                t.speechProjectorHiddenSize(), t.speechGeneratorType(), t.ctcDecoderConfig(), t.ctcUpsampleFactor(),
                t.unitVocabSize());
    }

    private static String describe(OmniConfig c) {
        return String.format(Locale.ROOT, "%d wide, %d layers, %d/%d heads, FFN %d", c.hiddenSize(),
                c.numHiddenLayers(), c.numAttentionHeads(), c.numKeyValueHeads(), c.intermediateSize());
    }

    /** Ops and time of one LLM decode step of bsz sequences (prompts of 16..48 tokens), old path and pool. */
    private void decodeStep(String name, OmniModel model, int bsz, int steps) throws IOException {
        LlamaModel llm = model.llm();
        long[] counts = new long[4];
        double[] ms = new double[2];
        double[] best = new double[2];
        for (int pooled = 0; pooled < 2; pooled++) {
            SplittableRandom r = new SplittableRandom(bsz);
            List<SequenceCache> caches = new ArrayList<>();
            KvPool pool = pooled == 1 ? llm.newPool(bsz, 64 + steps + 8L) : null;
            try (NDScope scope = new NDScope()) {
                scope.suppressNotUsedWarning();
                for (int i = 0; i < bsz; i++) {
                    long[] prompt = r.longs(16 + r.nextInt(33), 0, 256).toArray();
                    SequenceCache c = pool == null ? llm.newCache(64 + steps + 8L) : pool.acquire();
                    llm.forward(llm.embed(prompt), c, prompt);
                    caches.add(c);
                }
                long[] tokens = r.longs(bsz, 0, 256).toArray();
                // two warm steps, one profiled, then the timed ones
                for (int s = 0; s < 2; s++) {
                    step(llm, tokens, caches, pool != null);
                }
                long[] c = countOps(NativeOps.trace(() -> step(llm, tokens, caches, pool != null)));
                counts[pooled] = c[0];
                counts[2 + pooled] = c[1];
                double[] t = new double[steps];
                for (int s = 0; s < steps; s++) {
                    long t0 = System.nanoTime();
                    step(llm, tokens, caches, pool != null);
                    t[s] = (System.nanoTime() - t0) / 1e6;
                }
                ms[pooled] = upperMedian(t);
                best[pooled] = Arrays.stream(t).min().orElseThrow();
            } finally {
                caches.forEach(SequenceCache::close);
                if (pool != null) {
                    pool.close();
                }
            }
        }
        System.out.printf(Locale.ROOT, "%3d | %11d | %12d | %11d | %12d | %11.2f | %12.2f | %10.2f | %11.2f%n", bsz,
                counts[0], counts[1], counts[2], counts[3], ms[0], ms[1], best[0], best[1]);
        results.put(name + "_b" + bsz + "_step_min_ms_old", fmt(best[0]));
        results.put(name + "_b" + bsz + "_step_min_ms_pool", fmt(best[1]));
        results.put(name + "_b" + bsz + "_ops_old", Long.toString(counts[0]));
        results.put(name + "_b" + bsz + "_ops_pool", Long.toString(counts[1]));
        results.put(name + "_b" + bsz + "_ops_all_old", Long.toString(counts[2]));
        results.put(name + "_b" + bsz + "_ops_all_pool", Long.toString(counts[3]));
        results.put(name + "_b" + bsz + "_step_ms_old", fmt(ms[0]));
        results.put(name + "_b" + bsz + "_step_ms_pool", fmt(ms[1]));
    }

    /** Ops and time of one CTC decoder step of bsz streams (each 4 states in), alone each vs stepAll over a pool. */
    private void ctcStep(OmniModel model, int bsz, int steps) throws IOException {
        CtcUnitDecoder ctc = model.ctc();
        long[] counts = new long[4];
        double[] ms = new double[2];
        long frames = (steps + 8L) * ctc.upsampleFactor();
        for (int pooled = 0; pooled < 2; pooled++) {
            List<CtcUnitDecoder.Stream> streams = new ArrayList<>();
            try (KvPool pool = pooled == 1 ? ctc.newPool(bsz, frames) : null; NDScope scope = new NDScope()) {
                scope.suppressNotUsedWarning();
                List<ai.djl.ndarray.NDArray> states = new ArrayList<>();
                for (int i = 0; i < bsz; i++) {
                    streams.add(pool == null ? ctc.newStream() : ctc.newStream(pool));
                    states.add(model.manager().randomNormal(new ai.djl.ndarray.types.Shape(model.config().hiddenSize())));
                }
                Runnable step = () -> {
                    if (pool == null) {
                        for (int i = 0; i < bsz; i++) {
                            streams.get(i).step(states.get(i));
                        }
                    } else {
                        ctc.stepAll(streams, states);
                    }
                };
                for (int s = 0; s < 4; s++) {
                    step.run();
                }
                long[] c = countOps(NativeOps.trace(step));
                counts[pooled] = c[0];
                counts[2 + pooled] = c[1];
                double[] t = new double[steps];
                for (int s = 0; s < steps; s++) {
                    long t0 = System.nanoTime();
                    step.run();
                    t[s] = (System.nanoTime() - t0) / 1e6;
                }
                ms[pooled] = upperMedian(t);
            } finally {
                streams.forEach(CtcUnitDecoder.Stream::close);
            }
        }
        System.out.printf(Locale.ROOT, "%3d | %11d | %12d | %11d | %12d | %11.2f | %12.2f%n", bsz, counts[0], counts[1],
                counts[2], counts[3], ms[0], ms[1]);
        results.put("ctc_b" + bsz + "_ops_old", Long.toString(counts[0]));
        results.put("ctc_b" + bsz + "_ops_pool", Long.toString(counts[1]));
        results.put("ctc_b" + bsz + "_step_ms_old", fmt(ms[0]));
        results.put("ctc_b" + bsz + "_step_ms_pool", fmt(ms[1]));
    }

    private static void step(LlamaModel llm, long[] tokens, List<SequenceCache> caches, boolean pooled) {
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            LlamaModel.Output out = pooled ? llm.decode(tokens, caches)
                    : llm.decodeBatch(tokens, caches.stream().map(c -> (KvCache) c).toList());
            out.lastLogits().argMax(-1).toLongArray(); // wait for the result, as the generator does
        }
        // keep every sequence at the same length each step: forget the token just written
        for (SequenceCache c : caches) {
            c.truncate(c.length() - 1);
        }
    }

    private void ratio(int[] batches) {
        int first = batches[0];
        int last = batches[batches.length - 1];
        for (String path : new String[] {"old", "pool"}) {
            double r = Double.parseDouble(results.get("tiny_b" + last + "_step_ms_" + path))
                    / Double.parseDouble(results.get("tiny_b" + first + "_step_ms_" + path));
            double rMin = Double.parseDouble(results.get("tiny_b" + last + "_step_min_ms_" + path))
                    / Double.parseDouble(results.get("tiny_b" + first + "_step_min_ms_" + path));
            System.out.printf(Locale.ROOT, "%s path: t(%d) / t(%d) = %.2f by medians, %.2f by minima (goal <= 3)%n",
                    path, last, first, r, rMin);
            results.put("tiny_t" + last + "_over_t" + first + "_" + path, fmt(r));
            results.put("tiny_t" + last + "_over_t" + first + "_min_" + path, fmt(rMin));
        }
    }

    /** [top-level ATen calls, all ATen calls] in a chrome trace of libtorch's profiler. */
    public static long[] countOps(String json) {
        List<Event> events = atenEvents(json);
        return new long[] {topLevel(events).size(), events.size()};
    }

    /**
     * The top-level ATen calls of a chrome trace of libtorch's profiler by name: name -> {calls, milliseconds}. A
     * call's time includes the calls nested in it (aten::matmul holds its mm or bmm and any copy it makes).
     */
    public static Map<String, double[]> opTimes(String json) {
        Map<String, double[]> byName = new LinkedHashMap<>();
        for (Event e : topLevel(atenEvents(json))) {
            double[] a = byName.computeIfAbsent(e.name(), k -> new double[2]);
            a[0]++;
            a[1] += (e.end() - e.start()) / 1000.0;
        }
        return byName;
    }

    private record Event(String name, double start, double end, double thread) {
    }

    private static List<Event> atenEvents(String json) {
        Matcher m = EVENT.matcher(json);
        List<Event> events = new ArrayList<>();
        while (m.find()) {
            if (m.group(1).startsWith("aten::")) {
                double ts = Double.parseDouble(m.group(2));
                events.add(new Event(m.group(1), ts, ts + Double.parseDouble(m.group(3)),
                        Double.parseDouble(m.group(4))));
            }
        }
        return events;
    }

    /** The calls not nested inside another ATen call of the same thread (what the Java side dispatches). */
    private static List<Event> topLevel(List<Event> events) {
        // sorted by start, longest first: an event is top-level unless it lies within the last top-level one
        List<Event> sorted = new ArrayList<>(events);
        sorted.sort((x, y) -> x.start() != y.start() ? Double.compare(x.start(), y.start())
                : Double.compare(y.end(), x.end()));
        List<Event> top = new ArrayList<>();
        Map<Double, Double> openUntil = new java.util.HashMap<>();
        for (Event e : sorted) {
            Double until = openUntil.get(e.thread());
            if (until == null || e.start() >= until) {
                top.add(e);
                openUntil.put(e.thread(), e.end());
            }
        }
        return top;
    }

    /**
     * What the BLAS behind libtorch makes of the LLM's projections alone, in this JVM: a plain square matmul (the
     * box's matmul peak), then x [M, dim] times W^T over one set of random weights of every layer's q, k, v, o, gate,
     * up and down shapes (as many bytes as the model's layers, more than the cache holds: each step streams them
     * from memory), for M = 1, 2, 4, 8 rows: ms per pass, weight bytes streamed per second, GFLOP/s.
     */
    private void projectionFloor(OmniConfig c, NDManager parent) {
        try (NDManager m = parent.newSubManager()) {
            int n = 1024;
            NDArray a = m.randomNormal(new Shape(n, n));
            NDArray b = m.randomNormal(new Shape(n, n));
            double squareMs = medianMs(() -> a.matMul(b).close(), 7);
            double peak = 2.0 * n * n * n / squareMs / 1e6;
            System.out.printf(Locale.ROOT, "%nthe box's matmul peak, a plain %d^3 float32 matmul: %.1f GFLOP/s%n", n,
                    peak);
            long dim = c.hiddenSize();
            long kv = (long) c.numKeyValueHeads() * c.headDim();
            long ffn = c.intermediateSize();
            long[][] shapes = {{dim, dim}, {kv, dim}, {kv, dim}, {dim, dim}, {ffn, dim}, {ffn, dim}, {dim, ffn}};
            List<NDArray> weights = new ArrayList<>();
            long params = 0;
            for (int layer = 0; layer < c.numHiddenLayers(); layer++) {
                for (long[] sh : shapes) {
                    weights.add(m.randomNormal(new Shape(sh[0], sh[1])));
                    params += sh[0] * sh[1];
                }
            }
            results.put("matmul_peak_gflops", fmt(peak));
            System.out.printf(Locale.ROOT, "the LLM's projections alone, x [M, dim] W^T over random weights of its %d"
                    + " layers' shapes (%.0f MB float32, streamed from memory each pass)%n", c.numHiddenLayers(),
                    params * 4 / 1e6);
            System.out.println("  M rows | ms per pass | GB/s of weights | GFLOP/s");
            for (int rows : new int[] {1, 2, 4, 8}) {
                NDArray x1024 = m.randomNormal(new Shape(rows, dim));
                NDArray xFfn = m.randomNormal(new Shape(rows, ffn));
                double ms = medianMs(() -> {
                    for (NDArray w : weights) {
                        Ops.linear(w.getShape().get(1) == dim ? x1024 : xFfn, w, null).close();
                    }
                }, 5);
                System.out.printf(Locale.ROOT, "  %6d | %11.2f | %15.1f | %7.1f%n", rows, ms, params * 4 / ms / 1e6,
                        2.0 * rows * params / ms / 1e6);
                results.put("projections_m" + rows + "_ms", fmt(ms));
                results.put("projections_m" + rows + "_gflops", fmt(2.0 * rows * params / ms / 1e6));
            }
        }
    }

    private static double medianMs(Runnable body, int repeats) {
        body.run();
        double[] t = new double[repeats];
        for (int i = 0; i < repeats; i++) {
            long t0 = System.nanoTime();
            body.run();
            t[i] = (System.nanoTime() - t0) / 1e6;
        }
        return upperMedian(t);
    }

    /** Where one pooled LLM decode step of bsz sequences spends its time, by ATen call. */
    private void profileLlmStep(OmniModel model, int bsz) throws IOException {
        LlamaModel llm = model.llm();
        SplittableRandom r = new SplittableRandom(bsz);
        List<SequenceCache> caches = new ArrayList<>();
        try (KvPool pool = llm.newPool(bsz, 128); NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            for (int i = 0; i < bsz; i++) {
                long[] prompt = r.longs(16 + r.nextInt(33), 0, 256).toArray();
                SequenceCache c = pool.acquire();
                llm.forward(llm.embed(prompt), c, prompt);
                caches.add(c);
            }
            long[] tokens = r.longs(bsz, 0, 256).toArray();
            profileSteps("LLM decode step, B = " + bsz, "small_llm_b" + bsz, () -> step(llm, tokens, caches, true));
        }
    }

    /** Where one SpeechGenerator.stepAll of n pooled turns (LLM + CTC decoder + vocoder) spends its time. */
    private void profileStepAll(OmniModel model, int turns) throws IOException {
        int steps = 12;
        GenerationOptions options = GenerationOptions.defaults().withMaxNewTokens(steps + 4);
        long frames = (steps + 5L) * model.ctc().upsampleFactor();
        try (KvPool pool = model.llm().newPool(turns, 512); KvPool ctcPool = model.ctc().newPool(turns, frames)) {
            SpeechGenerator generator = new SpeechGenerator(model, options, null, pool, ctcPool);
            List<TurnGenerator> running = new ArrayList<>();
            try {
                for (int i = 0; i < turns; i++) {
                    running.add(generator.start(Benchmarks.syntheticSpeech(1.0 + 0.1 * i), List.of(), null));
                }
                profileSteps("stepAll, " + turns + " turn(s)", "small_stepall_" + turns,
                        () -> generator.stepAll(running));
            } finally {
                running.forEach(TurnGenerator::close);
            }
        }
    }

    /**
     * Runs step 2 times to warm up, 5 times timed (median wall), 3 times under the profiler; prints the wall time,
     * the profiled ATen calls' sum (the rest is Java, JNI and the profiler's own cost) and the calls by time.
     */
    private void profileSteps(String label, String key, Runnable step) throws IOException {
        for (int i = 0; i < 2; i++) {
            step.run();
        }
        double[] wall = new double[5];
        for (int i = 0; i < wall.length; i++) {
            long t0 = System.nanoTime();
            step.run();
            wall[i] = (System.nanoTime() - t0) / 1e6;
        }
        int profiled = 3;
        Map<String, double[]> sum = new LinkedHashMap<>();
        for (int i = 0; i < profiled; i++) {
            NativeOps.byName(step).forEach((name, v) -> {
                double[] a = sum.computeIfAbsent(name, k -> new double[2]);
                a[0] += v[0] / profiled;
                a[1] += v[1] / profiled;
            });
        }
        double calls = sum.values().stream().mapToDouble(v -> v[0]).sum();
        double ms = sum.values().stream().mapToDouble(v -> v[1]).sum();
        System.out.printf(Locale.ROOT, "%s: %.2f ms wall (median of 5); profiled: %.0f top-level ATen calls, %.2f ms%n",
                label, upperMedian(wall), calls, ms);
        sum.entrySet().stream().sorted((x, y) -> Double.compare(y.getValue()[1], x.getValue()[1])).limit(8)
                .forEach(e -> System.out.printf(Locale.ROOT, "    %-22s %5.0f calls %8.2f ms%n", e.getKey(),
                        e.getValue()[0], e.getValue()[1]));
        double[] matmul = sum.getOrDefault("aten::matmul", new double[2]);
        double[] gather = sum.getOrDefault("aten::index", new double[2]);
        results.put(key + "_wall_ms", fmt(upperMedian(wall)));
        results.put(key + "_aten_ms", fmt(ms));
        results.put(key + "_matmul_ms", fmt(matmul[1]));
        results.put(key + "_index_ms", fmt(gather[1]));
    }

    /**
     * First audio of n turns arriving together at t0: each step starts one newcomer (encoder + prefill), then steps
     * every running turn once; a turn's first audio is the end of the step that returned its first non-empty chunk.
     */
    private void firstAudio(OmniModel model, int n, boolean pooled) {
        GenerationOptions options = GenerationOptions.defaults().withMaxNewTokens(64);
        long frames = 65L * model.ctc().upsampleFactor();
        try (KvPool pool = pooled ? model.llm().newPool(n, 512) : null;
                KvPool ctcPool = pooled ? model.ctc().newPool(n, frames) : null) {
            SpeechGenerator generator = new SpeechGenerator(model, options, null, pool, ctcPool);
            List<float[]> arrivals = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                arrivals.add(Benchmarks.syntheticSpeech(1.0 + 0.05 * (i % 8)));
            }
            List<TurnGenerator> running = new ArrayList<>();
            List<Double> firstMs = new ArrayList<>();
            java.util.Set<TurnGenerator> heard = new java.util.HashSet<>();
            long t0 = System.nanoTime();
            int started = 0;
            try {
                while (firstMs.size() < n) {
                    if (started < n) {
                        running.add(generator.start(arrivals.get(started++), List.of(), null));
                    }
                    List<StepResult> rs = generator.stepAll(running);
                    double now = (System.nanoTime() - t0) / 1e6;
                    for (int i = 0; i < rs.size(); i++) {
                        TurnGenerator t = running.get(i);
                        boolean audio = rs.get(i).audio().stream().anyMatch(p -> p.pcm().length > 0);
                        if (!heard.contains(t) && (audio || t.isDone())) {
                            heard.add(t);
                            firstMs.add(now);
                        }
                    }
                }
            } finally {
                running.forEach(TurnGenerator::close);
            }
            double p50 = nearestRank(firstMs, 0.50);
            double p95 = nearestRank(firstMs, 0.95);
            String path = pooled ? "pool" : "old";
            System.out.printf(Locale.ROOT, "%2d turns, %-4s path: first audio p50 %.0f ms, p95 %.0f ms%n", n, path, p50,
                    p95);
            results.put("tiny_first_audio_" + n + "_p50_ms_" + path, fmt(p50));
            results.put("tiny_first_audio_" + n + "_p95_ms_" + path, fmt(p95));
        }
    }

    /** tokens/s of n turns stepped together for `steps` steps (after 2 warm steps), old path or pool. */
    private double throughput(OmniModel model, int turns, int steps, boolean pooled) {
        GenerationOptions options = GenerationOptions.defaults().withMaxNewTokens(steps + 4);
        long frames = (steps + 5L) * model.ctc().upsampleFactor();
        try (KvPool pool = pooled ? model.llm().newPool(turns, 512) : null;
                KvPool ctcPool = pooled ? model.ctc().newPool(turns, frames) : null) {
            SpeechGenerator generator = new SpeechGenerator(model, options, null, pool, ctcPool);
            List<TurnGenerator> running = new ArrayList<>();
            try {
                for (int i = 0; i < turns; i++) {
                    running.add(generator.start(Benchmarks.syntheticSpeech(1.0 + 0.1 * i), List.of(), null));
                }
                generator.stepAll(running);
                generator.stepAll(running);
                long tokens = 0;
                long t0 = System.nanoTime();
                for (int s = 0; s < steps; s++) {
                    for (StepResult r : generator.stepAll(running)) {
                        tokens += r.done() ? 0 : 1;
                    }
                }
                double seconds = (System.nanoTime() - t0) / 1e9;
                double tps = tokens / seconds;
                String path = pooled ? "pool" : "old";
                System.out.printf(Locale.ROOT, "%d turn(s), %-4s path: %.1f tokens/s (%d tokens, %.1f ms/step)%n",
                        turns, path, tps, tokens, seconds * 1000 / steps);
                results.put("small_step_ms_" + turns + "_" + path, fmt(seconds * 1000 / steps));
                return tps;
            } finally {
                running.forEach(TurnGenerator::close);
            }
        }
    }

    private static String fmt(double v) {
        return fixed(v, 2);
    }
}
