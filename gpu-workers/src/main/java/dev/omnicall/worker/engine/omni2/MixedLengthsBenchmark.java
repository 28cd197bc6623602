package dev.omnicall.worker.engine.omni2;

import static dev.omnicall.model.tools.BenchmarkFigures.fixed;
import static dev.omnicall.model.tools.BenchmarkFigures.keyValueLine;
import static dev.omnicall.model.tools.BenchmarkFigures.loadAverage;
import static dev.omnicall.model.tools.BenchmarkFigures.upperMedian;

import dev.omnicall.model.KvPool;
import dev.omnicall.model.ModelOptions;
import dev.omnicall.model.omni2.LengthGroups;
import dev.omnicall.model.omni2.Omni2Model;
import dev.omnicall.model.omni2.TinyOmni2Writer;
import dev.omnicall.model.omni2.TtsLanguageModel;
import dev.omnicall.model.omni2.TtsSampling;
import dev.omnicall.model.omni2.TtsSchedule;
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
 * Flow + HiFT rows of very different lengths in one step (issue 14 item 2, length grouping), on the tiny checkpoint:
 * B turns in two cohorts, the second started one step after the first, so at step 4 the first cohort's final writes
 * (the rest of the reply up to the final cap: long windows, and the finishes) run beside the second cohort's first
 * writes (10 units: short windows); steps 3 and 5 have one cohort's rows only. Modes, interleaved per repetition:
 * {@code single} (every stage's rows padded to the longest: the engine before) and {@code grouped} (rows cut into
 * batches of similar length, {@link LengthGroups#defaults()}). Per mode and step: the median wall time over
 * {@code bench.reps} runs, and the native calls of one more run under the profiler. Options: {@code -Dbench.batches=8,32
 * -Dbench.reps=5 -Dbench.dir=/tmp/omni2-bench-tiny}; torch threads by DJL's properties. Ends with one key=value line.
 */
final class MixedLengthsBenchmark {
    private static final int STEPS = 5; // a tiny reply's 4 steps, the second cohort one step later
    private static final int MIXED_STEP = 3; // index of step 4: the first cohort ends, the second writes first
    private static final List<String> MODES = List.of("single", "grouped");

    private MixedLengthsBenchmark() {
    }

    static void run() throws Exception {
        int[] batches = Arrays.stream(System.getProperty("bench.batches", "8,32").split(","))
                .mapToInt(s -> Integer.parseInt(s.trim())).toArray();
        int reps = Integer.getInteger("bench.reps", 5);
        Path dir = Path.of(System.getProperty("bench.dir", "/tmp/omni2-bench-tiny"));
        Map<String, String> line = new LinkedHashMap<>();
        line.put("load_start", loadAverage());
        TinyOmni2Writer.writeIfAbsent(dir, 20240906L);
        try (Omni2Model model = Omni2Model.load(dir, ModelOptions.defaults().withPaddedSeconds(0))) {
            Omni2TurnEngine.Options options = new Omni2TurnEngine.Options(new TtsSchedule(3, 10, 40),
                    TtsSampling.greedy(), 16);
            System.out.printf("%-4s %-8s %-40s %-8s %-36s %s%n", "B", "mode", "median ms per step 1..5", "steps 3-5",
                    "native ops per step 1..5", "units per reply (cohort 1 / 2)");
            for (int b : batches) {
                double[][][] ms = new double[MODES.size()][reps][];
                for (int m = 0; m < MODES.size(); m++) {
                    runCohorts(model, options, b, groups(MODES.get(m)), null, null); // warm
                }
                for (int r = 0; r < reps; r++) {
                    for (int m = 0; m < MODES.size(); m++) {
                        ms[m][r] = runCohorts(model, options, b, groups(MODES.get(m)), null, null);
                    }
                }
                double[] late = new double[MODES.size()];
                double[] mixed = new double[MODES.size()];
                for (int m = 0; m < MODES.size(); m++) {
                    long[] ops = new long[STEPS];
                    List<String> units = new ArrayList<>();
                    runCohorts(model, options, b, groups(MODES.get(m)), ops, units);
                    double[] median = new double[STEPS];
                    for (int s = 0; s < STEPS; s++) {
                        double[] col = new double[reps];
                        for (int r = 0; r < reps; r++) {
                            col[r] = ms[m][r][s];
                        }
                        median[s] = upperMedian(col);
                    }
                    mixed[m] = median[MIXED_STEP];
                    late[m] = median[2] + median[3] + median[4];
                    String mode = MODES.get(m);
                    StringBuilder steps = new StringBuilder();
                    for (double v : median) {
                        steps.append(steps.length() == 0 ? "" : " ").append(fixed(v, 1));
                    }
                    System.out.printf(Locale.ROOT, "%-4d %-8s %-40s %-8s %-36s %s%n", b, mode, steps, fixed(late[m], 1),
                            Arrays.toString(ops), String.join(" ", units));
                    line.put("b" + b + "_" + mode + "_ms", steps.toString().replace(' ', ','));
                    line.put("b" + b + "_" + mode + "_step4_ops", String.valueOf(ops[MIXED_STEP]));
                }
                line.put("b" + b + "_step4_single_over_grouped", fixed(mixed[0] / mixed[1], 2));
                line.put("b" + b + "_steps3to5_single_over_grouped", fixed(late[0] / late[1], 2));
            }
        }
        line.put("load_end", loadAverage());
        System.out.println(keyValueLine(line));
    }

    private static LengthGroups groups(String mode) {
        return mode.equals("single") ? LengthGroups.single() : LengthGroups.defaults();
    }

    /**
     * b turns in two cohorts a step apart (prefill not timed), stepped to their ends; → ms per step, or with
     * {@code ops} the native calls per step instead (the profiler's own cost spoils the times); {@code units}
     * (nullable) gets each cohort's reply lengths in units.
     */
    private static double[] runCohorts(Omni2Model model, Omni2TurnEngine.Options options, int b, LengthGroups groups,
            long[] ops, List<String> units) throws Exception {
        SplittableRandom r = new SplittableRandom(b);
        try (KvPool llm = model.llm().newPool(b, 256); KvPool tts = model.tts().newPool(b,
                TtsLanguageModel.contextBound(options.schedule(), options.maxNewTokens()))) {
            Omni2TurnEngine engine = new Omni2TurnEngine(model, options, new Omni2TurnEngine.Pools(llm, tts), groups);
            List<EngineSession> sessions = new ArrayList<>();
            try {
                double[] ms = new double[STEPS];
                for (int s = 0; s < STEPS; s++) {
                    // the first cohort at step 1, the second at step 2 (untimed starts)
                    for (int i = 0; s < 2 && i < (s == 0 ? (b + 1) / 2 : b / 2); i++) {
                        sessions.add(engine.start(new TurnInput("c" + sessions.size(), Omni2EngineBenchmark.pcm(
                                0.8 + 0.4 * r.nextDouble(), r.nextLong()), List.of()), null));
                    }
                    Omni2EngineBenchmark.stepRunning(engine, sessions, s, ops, ms);
                }
                if (units != null) {
                    int first = (b + 1) / 2;
                    units.add(((Omni2Session) sessions.get(0)).units().size() + "/"
                            + ((Omni2Session) sessions.get(first < sessions.size() ? first : 0)).units().size());
                }
                return ms;
            } finally {
                sessions.forEach(EngineSession::close);
            }
        }
    }
}
