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
import dev.omnicall.worker.engine.EngineSession;
import dev.omnicall.worker.engine.OmniTurnEngine;
import dev.omnicall.worker.engine.TurnEngine;
import dev.omnicall.worker.engine.TurnInput;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What a newcomer's start costs the LLaMA-Omni2 turns already speaking (issue 14 item 3), on the tiny checkpoint:
 * {@code bench.speakers} turns speak on a pooled engine, each that ends replaced by the next (untimed, before the
 * loop), so the same number speaks throughout; a reply lasts 4 steps, so the steps' cost repeats with a period of 4
 * (steps 3 and 4 write units and run flow + HiFT, 1 and 2 are the LLM only). Before the newcomer, {@code bench.cycles}
 * periods measure each step's baseline (the median at its place in the period) and T, the median step. The newcomer
 * (this turn's audio of {@code bench.seconds}, {@code bench.history} earlier caller turns with their audio carried, as
 * after a move: one speech each to encode) then arrives; each loop runs its start's next piece and the speakers'
 * step, until it is in. Modes: {@code oneshot} (the whole {@link Omni2TurnEngine#start} in one loop, the worker
 * before), {@code sliced} (the encoder and the prompt in slices of about half a step apart: fused prefill off,
 * {@code auto}), {@code fused} (the prompt rows riding in the steps: the default). A loop's extra = its time beyond
 * its step's baseline, in steps T. Per mode, over {@code bench.reps} runs (modes interleaved): the longest extra
 * (median run and worst), the median extra, the extra summed over the start's loops, the loops, and the longest
 * single call into the newcomer's start (begin, start or advance; median run) in steps: the start's own work in a loop
 * measured apart from the step's jitter (fused: the rows' work is inside the step, so only the extra shows it). Ends
 * with one {@code key=value} line.
 */
final class NewcomerBenchmark {
    private static final int PERIOD = 4; // a tiny reply's steps
    private static final List<String> MODES = List.of("oneshot", "sliced", "fused");

    private NewcomerBenchmark() {
    }

    /** One run of one mode: T, and per loop of the newcomer's start its extra in steps. */
    private record Run(double stepMs, double[] extraSteps, double longestWork) {
        double longest() {
            return Arrays.stream(extraSteps).max().orElse(0);
        }

        double total() {
            return Arrays.stream(extraSteps).sum();
        }

        double median() {
            return upperMedian(extraSteps);
        }
    }

    static void run() throws Exception {
        int speakers = Integer.getInteger("bench.speakers", 3);
        int reps = Integer.getInteger("bench.reps", 5);
        int cycles = Integer.getInteger("bench.cycles", 6);
        double seconds = Double.parseDouble(System.getProperty("bench.seconds", "2.4"));
        int history = Integer.getInteger("bench.history", 2);
        Path dir = Path.of(System.getProperty("bench.dir", "/tmp/omni2-bench-tiny"));
        String loadStart = loadAverage();
        TinyOmni2Writer.writeIfAbsent(dir, 20240906L);
        List<TurnInput.PastTurn> past = new ArrayList<>();
        for (int h = 0; h < history; h++) {
            past.add(new TurnInput.PastTurn(h + 1, null, Omni2EngineBenchmark.pcm(seconds, 900 + h), "Tix"));
        }
        TurnInput newcomer = new TurnInput("newcomer", Omni2EngineBenchmark.pcm(seconds, 999), past);
        System.out.printf(Locale.ROOT, "%d speaking, newcomer %s s + %d history speeches, %d runs per mode%n",
                speakers, fixed(seconds, 1), history, reps);
        List<List<Run>> runs = new ArrayList<>();
        MODES.forEach(m -> runs.add(new ArrayList<>()));
        try (Omni2Model model = Omni2Model.load(dir, ModelOptions.defaults().withPaddedSeconds(0))) {
            Omni2TurnEngine.Options options = new Omni2TurnEngine.Options(new TtsSchedule(3, 10, 40),
                    TtsSampling.greedy(), 16);
            runMode(model, options, "fused", speakers, 2, newcomer); // warm
            for (int r = 0; r < reps; r++) {
                for (int m = 0; m < MODES.size(); m++) {
                    runs.get(m).add(runMode(model, options, MODES.get(m), speakers, cycles, newcomer));
                }
            }
        }
        Map<String, String> line = new LinkedHashMap<>();
        line.put("load_start", loadStart);
        line.put("speakers", String.valueOf(speakers));
        line.put("history", String.valueOf(history));
        System.out.printf("%-8s %8s %6s %22s %14s %12s %20s%n", "mode", "T ms", "loops", "longest extra med/max",
                "median extra", "total extra", "longest own call");
        for (int m = 0; m < MODES.size(); m++) {
            List<Run> rs = new ArrayList<>(runs.get(m));
            rs.sort((a, b) -> Double.compare(a.longest(), b.longest()));
            Run med = rs.get(rs.size() / 2);
            double worst = rs.get(rs.size() - 1).longest();
            rs.sort((a, b) -> Double.compare(a.longestWork(), b.longestWork()));
            double work = rs.get(rs.size() / 2).longestWork();
            String mode = MODES.get(m);
            System.out.printf(Locale.ROOT, "%-8s %8s %6d %12s / %6s %14s %12s %20s%n", mode, fixed(med.stepMs(), 1),
                    med.extraSteps().length, fixed(med.longest(), 2), fixed(worst, 2), fixed(med.median(), 2),
                    fixed(med.total(), 2), fixed(work, 2));
            line.put(mode + "_T_ms", fixed(med.stepMs(), 1));
            line.put(mode + "_loops", String.valueOf(med.extraSteps().length));
            line.put(mode + "_longest_extra_steps", fixed(med.longest(), 2));
            line.put(mode + "_worst_extra_steps", fixed(worst, 2));
            line.put(mode + "_total_extra_steps", fixed(med.total(), 2));
            line.put(mode + "_longest_call_steps", fixed(work, 2));
        }
        line.put("load_end", loadAverage());
        System.out.println(keyValueLine(line));
    }

    private static Run runMode(Omni2Model model, Omni2TurnEngine.Options options, String mode, int speakers,
            int cycles, TurnInput newcomer) {
        System.setProperty(OmniTurnEngine.PREFILL_SLICE_ROWS, "auto");
        System.setProperty(OmniTurnEngine.FUSED_PREFILL, mode.equals("fused") ? "on" : "off");
        try (KvPool llm = model.llm().newPool(speakers + 2, 512); KvPool tts = model.tts().newPool(speakers + 1,
                TtsLanguageModel.contextBound(options.schedule(), options.maxNewTokens()))) {
            Omni2TurnEngine engine = new Omni2TurnEngine(model, options, new Omni2TurnEngine.Pools(llm, tts));
            List<EngineSession> speaking = new ArrayList<>();
            int[] started = {0};
            try {
                // the speakers, staggered by a step, then whole periods of steps for the baselines
                int warm = PERIOD;
                int measured = cycles * PERIOD;
                double[] stepMs = new double[warm + measured];
                for (int s = 0; s < stepMs.length; s++) {
                    stepMs[s] = step(engine, speaking, speakers, started, s < speakers);
                }
                double[] baseline = new double[PERIOD];
                for (int k = 0; k < PERIOD; k++) {
                    double[] at = new double[cycles];
                    for (int c = 0; c < cycles; c++) {
                        at[c] = stepMs[warm + c * PERIOD + k];
                    }
                    baseline[k] = upperMedian(at);
                }
                double t = upperMedian(Arrays.copyOfRange(stepMs, warm, stepMs.length));
                // the newcomer: each loop its next piece and the speakers' step
                List<Double> extra = new ArrayList<>();
                double work = 0; // the longest time spent in the newcomer's begin / start / advance calls, ms
                int s = stepMs.length;
                if (mode.equals("oneshot")) {
                    long t0 = System.nanoTime();
                    EngineSession n = engine.start(newcomer, null);
                    double startMs = (System.nanoTime() - t0) / 1e6;
                    work = startMs;
                    double ms = startMs + step(engine, speaking, speakers, started, false);
                    extra.add((ms - baseline[s % PERIOD]) / t);
                    n.close();
                } else {
                    TurnEngine.StartingSession starting = null;
                    boolean ready = false;
                    while (!ready) {
                        replaceEnded(engine, speaking, speakers, started);
                        long t0 = System.nanoTime();
                        if (starting == null) {
                            starting = engine.begin(newcomer, null);
                        } else {
                            ready = starting.advance();
                        }
                        double startMs = (System.nanoTime() - t0) / 1e6;
                        work = Math.max(work, startMs);
                        double ms = startMs + step(engine, speaking, speakers, started, false);
                        if (!ready || mode.equals("sliced")) { // fused: the last advance only finds its rows in
                            extra.add((ms - baseline[s % PERIOD]) / t);
                        }
                        s++;
                        if (extra.size() > 10_000) {
                            throw new IllegalStateException("the newcomer did not start in 10000 loops");
                        }
                    }
                    starting.session().close();
                    starting.close();
                }
                return new Run(t, extra.stream().mapToDouble(Double::doubleValue).toArray(), work / t);
            } finally {
                speaking.forEach(EngineSession::close);
                System.clearProperty(OmniTurnEngine.PREFILL_SLICE_ROWS);
                System.clearProperty(OmniTurnEngine.FUSED_PREFILL);
            }
        }
    }

    /** Adds a speaker when {@code oneMore}, replaces ended ones (both untimed), then times one step of all; ms. */
    private static double step(Omni2TurnEngine engine, List<EngineSession> speaking, int speakers, int[] started,
            boolean oneMore) {
        if (oneMore) {
            add(engine, speaking, started);
        }
        replaceEnded(engine, speaking, speakers, started);
        long t0 = System.nanoTime();
        engine.step(speaking);
        return (System.nanoTime() - t0) / 1e6;
    }

    private static void replaceEnded(Omni2TurnEngine engine, List<EngineSession> speaking, int speakers,
            int[] started) {
        for (int i = 0; i < speaking.size(); i++) {
            if (speaking.get(i).done()) {
                speaking.remove(i).close();
                i--;
                add(engine, speaking, started);
            }
        }
    }

    private static void add(Omni2TurnEngine engine, List<EngineSession> speaking, int[] started) {
        int k = started[0]++;
        speaking.add(engine.start(new TurnInput("s" + k, Omni2EngineBenchmark.pcm(0.8 + 0.1 * (k % 5), k),
                List.of()), null));
    }
}
