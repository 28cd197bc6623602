package dev.omnicall.worker.engine.omni2;

import static dev.omnicall.model.tools.BenchmarkFigures.fixed;
import static dev.omnicall.model.tools.BenchmarkFigures.keyValueLine;
import static dev.omnicall.model.tools.BenchmarkFigures.loadAverage;
import static dev.omnicall.model.tools.BenchmarkFigures.upperMedian;

import dev.omnicall.model.KvPool;
import dev.omnicall.model.ModelOptions;
import dev.omnicall.model.omni2.Omni2Model;
import dev.omnicall.model.omni2.TinyOmni2Writer;
import dev.omnicall.model.omni2.TtsLanguageModel;
import dev.omnicall.model.omni2.TtsSampling;
import dev.omnicall.model.omni2.TtsSchedule;
import dev.omnicall.model.tools.NativeOps;
import dev.omnicall.worker.engine.EngineSession;
import dev.omnicall.worker.engine.TurnInput;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The LLaMA-Omni2 engine's step on the tiny checkpoint (TinyOmni2Writer) for B = 1, 8, 32 turns started together:
 * every turn answers 4 text tokens, so a reply is 4 engine steps: steps 1 and 2 are the LLM only (text and one
 * decode), step 3 the TTS LM's first write (3 fused rows, 10 units) with its flow + HiFT push, step 4 the final write
 * (to the end token) and the last chunk. Per step: the median wall time over {@code bench.reps} replies of the batch,
 * and the top-level native (ATen) calls of one more run under libtorch's profiler. {@code -Dbench.pools=off} runs the
 * engine without pools (each session alone, the reference path). Options: {@code -Dbench.batches=1,8,32
 * -Dbench.reps=5 -Dbench.pools=on -Dbench.dir=/tmp/omni2-bench-tiny}, torch threads by DJL's properties. Ends with one
 * {@code key=value} line. {@code -Dbench.mode=newcomer}: a newcomer's start while turns speak, one-shot vs in slices
 * ({@link NewcomerBenchmark}). {@code -Dbench.mode=lengths}: flow + HiFT rows of very different lengths in one step,
 * one padded batch per stage vs batches of similar length ({@link MixedLengthsBenchmark}).
 */
public final class Omni2EngineBenchmark {
    private static final int STEPS = 4; // a tiny reply: three letters and <|im_end|>

    private Omni2EngineBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        if ("newcomer".equals(System.getProperty("bench.mode"))) {
            NewcomerBenchmark.run();
            return;
        }
        if ("lengths".equals(System.getProperty("bench.mode"))) {
            MixedLengthsBenchmark.run();
            return;
        }
        int[] batches = Arrays.stream(System.getProperty("bench.batches", "1,8,32").split(","))
                .mapToInt(s -> Integer.parseInt(s.trim())).toArray();
        int reps = Integer.getInteger("bench.reps", 5);
        boolean pools = !"off".equals(System.getProperty("bench.pools", "on"));
        Path dir = Path.of(System.getProperty("bench.dir", "/tmp/omni2-bench-tiny"));
        String loadStart = loadAverage();
        TinyOmni2Writer.writeIfAbsent(dir, 20240906L);
        Map<String, String> line = new LinkedHashMap<>();
        line.put("load_start", loadStart);
        line.put("pools", pools ? "on" : "off");
        try (Omni2Model model = Omni2Model.load(dir, ModelOptions.defaults().withPaddedSeconds(0))) {
            Omni2TurnEngine.Options options = new Omni2TurnEngine.Options(new TtsSchedule(3, 10, 40),
                    TtsSampling.greedy(), 16);
            System.out.printf("%-4s %-44s %-44s%n", "B", "median ms per step 1..4 (total)", "native ops per step 1..4");
            for (int b : batches) {
                double[][] ms = new double[reps][];
                runBatch(model, options, b, pools, null); // warm
                for (int r = 0; r < reps; r++) {
                    ms[r] = runBatch(model, options, b, pools, null);
                }
                long[] ops = new long[STEPS];
                runBatch(model, options, b, pools, ops);
                String[] median = new String[STEPS];
                double total = 0;
                for (int s = 0; s < STEPS; s++) {
                    double[] col = new double[reps];
                    for (int r = 0; r < reps; r++) {
                        col[r] = ms[r][s];
                    }
                    double m = upperMedian(col); // the higher middle value: the figures published so far
                    median[s] = fixed(m, 1);
                    total += m;
                }
                System.out.printf(Locale.ROOT, "%-4d %-44s %-44s%n", b, String.join(" ", median) + " ("
                        + fixed(total, 1) + ")", Arrays.toString(ops));
                line.put("b" + b + "_ms", String.join(",", median));
                line.put("b" + b + "_ops", ops[0] + "," + ops[1] + "," + ops[2] + "," + ops[3]);
            }
        }
        line.put("load_end", loadAverage());
        System.out.println(keyValueLine(line));
    }

    /**
     * b turns started together (prefill not timed), stepped to their ends; → ms per step, or with {@code ops} the
     * native calls per step counted instead (the profiler's own cost then spoils the times).
     */
    private static double[] runBatch(Omni2Model model, Omni2TurnEngine.Options options, int b, boolean pooled,
            long[] ops) throws Exception {
        SplittableRandom r = new SplittableRandom(b);
        try (KvPool llm = model.llm().newPool(b, 256); KvPool tts = model.tts().newPool(b,
                TtsLanguageModel.contextBound(options.schedule(), options.maxNewTokens()))) {
            Omni2TurnEngine engine = pooled ? new Omni2TurnEngine(model, options, new Omni2TurnEngine.Pools(llm, tts))
                    : new Omni2TurnEngine(model, options);
            List<EngineSession> sessions = new ArrayList<>();
            try {
                for (int i = 0; i < b; i++) {
                    sessions.add(engine.start(new TurnInput("c" + i, pcm(0.8 + 0.4 * r.nextDouble(), r.nextLong()),
                            List.of()), null));
                }
                double[] ms = new double[STEPS];
                for (int s = 0; s < STEPS; s++) {
                    stepRunning(engine, sessions, s, ops, ms);
                }
                return ms;
            } finally {
                sessions.forEach(EngineSession::close);
            }
        }
    }


    /**
     * Step s of a benchmark: one engine step of the sessions not yet done, its native calls into {@code ops[s]} when
     * counting, else its wall time into {@code ms[s]}.
     */
    static void stepRunning(Omni2TurnEngine engine, List<EngineSession> sessions, int s, long[] ops, double[] ms)
            throws Exception {
        List<EngineSession> running = sessions.stream().filter(e -> !e.done()).toList();
        if (running.isEmpty()) {
            throw new IllegalStateException("the tiny replies ended before step " + (s + 1));
        }
        if (ops != null) {
            ops[s] = NativeOps.count(() -> engine.step(running));
        } else {
            long t0 = System.nanoTime();
            engine.step(running);
            ms[s] = (System.nanoTime() - t0) / 1e6;
        }
    }
    /** Two tones and a little noise, 16 kHz PCM (TinyModels.testAudio's signal). */
    static short[] pcm(double seconds, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int n = (int) (seconds * 16000);
        short[] x = new short[n];
        for (int i = 0; i < n; i++) {
            double t = i / 16000.0;
            double v = 0.3 * Math.sin(2 * Math.PI * 220 * t) + 0.2 * Math.sin(2 * Math.PI * 1375 * t * (1 + t))
                    + 0.02 * r.nextGaussian();
            x[i] = (short) Math.round(v * 32767);
        }
        return x;
    }
}
