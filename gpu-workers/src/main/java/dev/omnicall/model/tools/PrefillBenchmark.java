package dev.omnicall.model.tools;

import static dev.omnicall.model.tools.BenchmarkFigures.fixed;
import static dev.omnicall.model.tools.BenchmarkFigures.keyValueLine;
import static dev.omnicall.model.tools.BenchmarkFigures.loadAverage;
import static dev.omnicall.model.tools.BenchmarkFigures.quantile;
import static dev.omnicall.model.tools.BenchmarkFigures.upperMedian;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;
import dev.omnicall.model.KvPool;
import dev.omnicall.model.ModelOptions;
import dev.omnicall.model.omni.ChunkSchedule;
import dev.omnicall.model.omni.EncoderSlices;
import dev.omnicall.model.omni.GenerationOptions;
import dev.omnicall.model.omni.OmniConfig;
import dev.omnicall.model.omni.OmniModel;
import dev.omnicall.model.omni.SpeechGenerator;
import dev.omnicall.model.omni.StepResult;
import dev.omnicall.model.omni.TinyCheckpointWriter;
import dev.omnicall.model.omni.TurnGenerator;
import dev.omnicall.model.omni.TurnStart;
import dev.omnicall.model.stream.AudioPiece;
import dev.omnicall.model.stream.PrefillGapBudget;
import dev.omnicall.model.stream.PrefillPacer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What a newcomer's encoder + prefill does to the turns already speaking (issue 14 item 3), one-shot prefill vs
 * chunked prefill: R turns decode together in the pools; a newcomer arrives; each worker loop then runs either the
 * newcomer's whole start and a step (one-shot, what the worker did), or one slice of it (the prompt and the cache;
 * the log-mel; the encoder's convolutions; then its blocks cut at rows, paced as the worker paces them; then at most
 * S prompt rows) and a step (chunked). "Encoder slice": the longest of those first slices, up to the adaptor's rows in
 * the prompt (and apart: begin's, and the longest of the encoder's own; the key=value line also gives the longest
 * slice of each kind, in steps). Per mode: the median step time T before the newcomer; the longest loop while the
 * newcomer was being started, as T + extra; and for the running turns the longest gap between two of
 * their audio chunks from the newcomer's arrival to 8 steps after it joined, against the longest gap in the 12
 * steps before it arrived (growth in decode steps T: the goal is at most one; it includes the one turn more in the
 * batch after the join). A mode ending in {@code +gap} runs its slices under the worker's chunk-gap bound
 * ({@link PrefillGapBudget}: a slice only in a loop where every speaking turn has had a chunk since the last slice;
 * the other loops are steps alone, counted as "loops a slice waited"). "Most prefill in one gap": the newcomer's
 * work (wall time of its slices) that fell between two consecutive chunks of one running turn, the most over all
 * gaps, in steps T: by how much the newcomer made a gap grow (the bound: at most 1), whatever the gap's own length.
 * Mode {@code fused} (issue 14 item 3's last piece): the encoder's slices as {@code auto}, then the prompt's rows ride
 * in the loop's decode step ({@link SpeechGenerator#stepAll} with a rider: one forward, the weights read once for both;
 * rows per step from {@link PrefillPacer#fusedRows}); the newcomer's work in such a loop is the step's time beyond T.
 * {@code -Dbench.trace=true} prints each fused step's rows and its time beyond T to stderr. Repeats alternate the
 * modes; ends with one key=value line.
 * <pre>java -cp ... dev.omnicall.model.tools.PrefillBenchmark [--running 4] [--slices 8,32,auto,auto+gap,fused,fused+gap] [--repeats 3]
 *     [--omega 1] [--max-new 200]
 *     [--small false] [--encoder WIDTH,LAYERS,HEADS] [--threads 1] [--device cpu]</pre>
 */
public final class PrefillBenchmark {
    private PrefillBenchmark() {
    }

    /** One mode's figures. */
    private record Run(double stepMs, double worstLoopMs, double medianLoopMs, double totalExtraMs,
            double baselineGapMs, double admissionGapMs, int loops, int deferred, double mostPrefillInGapMs, double encoderSliceMs,
            double beginSliceMs, double blocksSliceMs, Map<String, Double> longestByKind, List<Double> promptSteps,
            List<Double> baselineSteps) {
        /** The most newcomer work that fell into one running turn's gap between two chunks, in steps T. */
        double prefillInGapSteps() {
            return mostPrefillInGapMs / stepMs;
        }

        double extraSteps() {
            return (worstLoopMs - stepMs) / stepMs;
        }

        double medianExtraSteps() {
            return (medianLoopMs - stepMs) / stepMs;
        }

        double gapGrowthSteps() {
            return (admissionGapMs - baselineGapMs) / stepMs;
        }
    }

    public static void main(String[] args) throws IOException {
        DumpStages.Args a = new DumpStages.Args(args);
        System.setProperty("ai.djl.pytorch.num_threads", a.get("--threads", "1"));
        System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
        int running = Integer.parseInt(a.get("--running", "4"));
        // fixed rows per slice, and "auto": PrefillPacer (half a step's worth, measured), the worker's default
        // "+gap" after a mode: its slices under the worker's chunk-gap bound (PrefillGapBudget: at most one slice in
        // any running turn's gap between two chunks), as the worker schedules them by default
        String[] slices = a.get("--slices", "8,32,auto,auto+gap").split(",");
        int repeats = Integer.parseInt(a.get("--repeats", "3"));
        // Ω schedule of the running turns: 1 (default) makes every step with units a chunk; the worker's 10,20,40,80
        // makes gaps of many steps, where the gap bound holds slices back
        String omega = a.get("--omega", "1");
        // tokens each running turn may speak (so that they still speak while a slow newcomer starts)
        int maxNew = Integer.parseInt(a.get("--max-new", "200"));
        boolean small = Boolean.parseBoolean(a.get("--small", "false"));
        ModelOptions options = ModelOptions.defaults().withDevice(a.get("--device", "cpu")).withPaddedSeconds(0);
        Map<String, String> results = new LinkedHashMap<>();
        results.put("load_start", loadAverage());
        Path tinyDir = TinyCheckpointWriter.writeIfAbsent(Path.of(".omnicall", "tiny-checkpoint"), 1L);
        OmniConfig config = small ? DecodeBenchmark.smallLlm(TinyCheckpointWriter.tinyConfig())
                : TinyCheckpointWriter.tinyConfig();
        // --encoder WIDTH,LAYERS,HEADS: a Whisper encoder of that shape (random weights) instead of the tiny one, e.g.
        // 1280,32,20 = large-v3's, where the encoder is most of a newcomer's start
        String encoder = a.get("--encoder", "");
        if (!encoder.isBlank()) {
            String[] e = encoder.split(",");
            if (e.length != 3) {
                throw new IllegalArgumentException("--encoder takes WIDTH,LAYERS,HEADS (e.g. 1280,32,20), got " + encoder);
            }
            config = config.withSpeechEncoderShape(Integer.parseInt(e[0].strip()), Integer.parseInt(e[1].strip()),
                    Integer.parseInt(e[2].strip()));
        }
        try (OmniModel model = OmniModel.assemble(config, new RandomWeights(7), TinyCheckpointWriter.tinyVocoderConfig(),
                new RandomWeights(8), tinyDir, options)) {
            System.out.printf(Locale.ROOT, "%s LLM (%d wide, %d layers), Whisper encoder %d wide x %d blocks, %d running"
                    + " turns, omega %s, newcomer of 2.4 s; load %s%n", small ? "~90M" : "tiny", config.hiddenSize(),
                    config.numHiddenLayers(), config.speechEncoderHiddenSize(), config.speechEncoderNumLayers(), running,
                    omega, loadAverage());
            run(model, running, 0, false); // warm-up
            beginParts(model, results);
            Map<String, List<Run>> byMode = new LinkedHashMap<>();
            for (int r = 0; r < repeats; r++) {
                byMode.computeIfAbsent("oneshot", k -> new ArrayList<>()).add(run(model, running, 0, false, false, omega,
                        maxNew));
                for (String s : slices) {
                    boolean gap = s.endsWith("+gap");
                    String base = gap ? s.substring(0, s.length() - 4) : s;
                    boolean fused = base.equals("fused");
                    int rows = base.equals("auto") || fused ? -1 : Integer.parseInt(base);
                    String mode = (fused ? "fused" : rows < 0 ? "auto" : "chunked" + base) + (gap ? "_gap" : "");
                    byMode.computeIfAbsent(mode, k -> new ArrayList<>()).add(run(model, running, rows, gap, fused, omega,
                            maxNew));
                }
            }
            System.out.println("mode        | step T ms | loops | loop p50 / max ms | extra p50 / max (steps) | total extra"
                    + " (steps) | chunk gap before / while ms | gap growth (steps) | loops a slice waited | most prefill in"
                    + " one gap (steps) | encoder slice (steps): longest / begin's / the encoder's");
            for (Map.Entry<String, List<Run>> e : byMode.entrySet()) {
                // the median run by gap growth
                List<Run> runs = new ArrayList<>(e.getValue());
                runs.sort((x, y) -> Double.compare(x.gapGrowthSteps(), y.gapGrowthSteps()));
                Run m = runs.get(runs.size() / 2);
                double worstGrowth = runs.get(runs.size() - 1).gapGrowthSteps();
                System.out.printf(Locale.ROOT, "%-11s | %9.2f | %5d | %7.1f / %7.1f | %7.2f / %7.2f | %8.2f | %8.1f / %8.1f"
                        + " | %6.2f (worst of %d: %.2f) | %d | %.2f (worst of %d: %.2f) | %.2f / %.2f / %.2f%n", e.getKey(),
                        m.stepMs(),
                        m.loops(), m.medianLoopMs(), m.worstLoopMs(), m.medianExtraSteps(), m.extraSteps(),
                        m.totalExtraMs() / m.stepMs(), m.baselineGapMs(), m.admissionGapMs(), m.gapGrowthSteps(),
                        runs.size(), worstGrowth, m.deferred(), m.prefillInGapSteps(), runs.size(),
                        runs.stream().mapToDouble(Run::prefillInGapSteps).max().orElse(0),
                        m.encoderSliceMs() < 0 ? Double.NaN : m.encoderSliceMs() / m.stepMs(),
                        m.beginSliceMs() < 0 ? Double.NaN : m.beginSliceMs() / m.stepMs(),
                        m.blocksSliceMs() < 0 ? Double.NaN : m.blocksSliceMs() / m.stepMs());
                results.put(e.getKey() + "_step_ms", fmt(m.stepMs()));
                results.put(e.getKey() + "_extra_steps", fmt(m.extraSteps()));
                results.put(e.getKey() + "_extra_steps_p50", fmt(m.medianExtraSteps()));
                results.put(e.getKey() + "_total_extra_steps", fmt(m.totalExtraMs() / m.stepMs()));
                results.put(e.getKey() + "_gap_growth_steps", fmt(m.gapGrowthSteps()));
                results.put(e.getKey() + "_gap_growth_steps_worst", fmt(worstGrowth));
                results.put(e.getKey() + "_admission_loops", Integer.toString(m.loops()));
                results.put(e.getKey() + "_deferred_loops", Integer.toString(m.deferred()));
                results.put(e.getKey() + "_prefill_in_gap_steps", fmt(m.prefillInGapSteps()));
                if (m.encoderSliceMs() >= 0) {
                    results.put(e.getKey() + "_encoder_slice_steps", fmt(m.encoderSliceMs() / m.stepMs()));
                    results.put(e.getKey() + "_begin_slice_steps", fmt(m.beginSliceMs() / m.stepMs()));
                    results.put(e.getKey() + "_encoder_only_slice_steps", fmt(m.blocksSliceMs() / m.stepMs()));
                }
                // every prompt slice (or fused step) of every run: its work in steps; and a plain step's own excess
                // over T before the newcomer (the box's jitter, which the same measure picks up)
                List<Double> prompt = e.getValue().stream().flatMap(x -> x.promptSteps().stream()).toList();
                List<Double> jitter = e.getValue().stream().flatMap(x -> x.baselineSteps().stream()).toList();
                if (!prompt.isEmpty()) {
                    System.out.printf(Locale.ROOT, "%-11s | prompt work per loop (steps) over %d loops of %d runs: p50 %.2f,"
                            + " p90 %.2f, max %.2f; a step alone before the newcomer, over T: p90 %.2f, max %.2f%n",
                            e.getKey(), prompt.size(), runs.size(), quantile(prompt, 0.5), quantile(prompt, 0.9),
                            quantile(prompt, 1), quantile(jitter, 0.9), quantile(jitter, 1));
                    results.put(e.getKey() + "_prompt_steps_p50", fmt(quantile(prompt, 0.5)));
                    results.put(e.getKey() + "_prompt_steps_p90", fmt(quantile(prompt, 0.9)));
                    results.put(e.getKey() + "_prompt_steps_max", fmt(quantile(prompt, 1)));
                    results.put(e.getKey() + "_step_jitter_p90", fmt(quantile(jitter, 0.9)));
                    results.put(e.getKey() + "_step_jitter_max", fmt(quantile(jitter, 1)));
                }
                results.put(e.getKey() + "_prefill_in_gap_steps_worst", fmt(runs.stream()
                        .mapToDouble(Run::prefillInGapSteps).max().orElse(0)));
                StringBuilder kinds = new StringBuilder();
                m.longestByKind().forEach((k, v) -> kinds.append(kinds.length() == 0 ? "" : "/").append(k).append(':')
                        .append(fmt(v / m.stepMs())));
                results.put(e.getKey() + "_longest_slice_steps_by_kind", kinds.toString());
            }
        }
        results.put("load_end", loadAverage());
        System.out.println(keyValueLine(results));
    }

    /**
     * What used to be begin's own slice, for the newcomer's 2.4 s (median of 5, ms): the log-mel, the encoder's
     * convolutions and positions (its pass's start), and {@code SpeechGenerator.begin} now (the prompt with the speech
     * rows' places held, the cache placed: a cache of its own here, a pool slot in the runs). Since session 15 each is
     * a slice of its own.
     */
    private static void beginParts(OmniModel model, Map<String, String> results) {
        float[] audio = Benchmarks.syntheticSpeech(2.4);
        SpeechGenerator generator = new SpeechGenerator(model, GenerationOptions.defaults().withMaxNewTokens(200));
        List<Double> logMel = new ArrayList<>();
        List<Double> convolutions = new ArrayList<>();
        List<Double> begin = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            try (NDScope scope = new NDScope()) {
                scope.suppressNotUsedWarning();
                long t0 = System.nanoTime();
                NDArray mel = model.frontend().forward(model.manager(), audio);
                long t1 = System.nanoTime();
                model.encoder().begin(mel).close();
                long t2 = System.nanoTime();
                generator.begin(audio, List.of(), null).close();
                long t3 = System.nanoTime();
                logMel.add((t1 - t0) / 1e6);
                convolutions.add((t2 - t1) / 1e6);
                begin.add((t3 - t2) / 1e6);
            }
        }
        System.out.printf(Locale.ROOT, "the newcomer's start before its blocks, median of 5: log-mel %.2f ms, convolutions"
                + " %.2f ms, begin (prompt and cache) %.2f ms%n", upperMedian(logMel), upperMedian(convolutions),
                upperMedian(begin));
        results.put("logmel_ms", fmt(upperMedian(logMel)));
        results.put("convolutions_ms", fmt(upperMedian(convolutions)));
        results.put("begin_ms", fmt(upperMedian(begin)));
    }

    /**
     * One newcomer among `running` speaking turns; sliceRows 0 = one-shot, -1 = paced ({@link PrefillPacer}); gapBound:
     * a slice only while no running turn has had one since its last chunk ({@link PrefillGapBudget}, as the worker).
     */
    private static Run run(OmniModel model, int running, int sliceRows, boolean gapBound) {
        return run(model, running, sliceRows, gapBound, false, "1", 200);
    }

    /**
     * fused: the prompt rows ride in the loop's decode step ({@link SpeechGenerator#stepAll} with a rider, as many as
     * {@link PrefillPacer#fusedRows} gives) instead of a slice before it; the newcomer's work in such a loop is what
     * its step took beyond T.
     */
    private static Run run(OmniModel model, int running, int sliceRows, boolean gapBound, boolean fused, String omega,
            int maxNew) {
        long frames = (maxNew + 1L) * model.ctc().upsampleFactor();
        // Ω = 1: a running turn's chunk at every step that gives units, so its chunk gap is the loop time and grows by
        // exactly what the newcomer's work adds to a loop (with Ω up to 80 a gap spans tens of steps)
        GenerationOptions options = GenerationOptions.defaults().withMaxNewTokens(maxNew)
                .withSchedule(ChunkSchedule.parse(omega));
        long positions = ServingBenchmark.slotPositions(model, maxNew);
        try (KvPool pool = model.llm().newPool(running + 1, positions);
                KvPool ctcPool = model.ctc().newPool(running + 1, frames)) {
            SpeechGenerator generator = new SpeechGenerator(model, options, null, pool, ctcPool);
            List<TurnGenerator> turns = new ArrayList<>();
            List<float[]> audio = ServingBenchmark.arrivals(running);
            List<Double> lastChunk = new ArrayList<>();
            try {
                for (float[] x : audio) {
                    turns.add(generator.start(x, List.of(), null));
                    lastChunk.add(Double.NaN);
                }
                long t0 = System.nanoTime();
                // warm steps, then the baseline: steps of the running turns alone
                for (int s = 0; s < 4; s++) {
                    loop(generator, turns, lastChunk, t0, new boolean[turns.size()]);
                }
                List<Double> baseline = new ArrayList<>();
                double baselineGap = 0;
                PrefillPacer pacer = new PrefillPacer(0.5, 8, 4096);
                for (int s = 0; s < 12; s++) {
                    double[] r = loop(generator, turns, lastChunk, t0, new boolean[turns.size()]);
                    pacer.stepTook((long) (r[0] * 1000));
                    baseline.add(r[0]);
                    baselineGap = Math.max(baselineGap, r[1]);
                }
                double baselineStep = upperMedian(baseline);
                // the newcomer: its start in one loop, or one slice per loop
                float[] newcomer = Benchmarks.syntheticSpeech(2.4);
                double worst = 0;
                double admissionGap = 0;
                List<Double> admissionLoops = new ArrayList<>();
                int loops = 0;
                TurnStart start = null;
                boolean joined = false;
                PrefillGapBudget<TurnGenerator> budget = new PrefillGapBudget<>(1);
                int deferred = 0;
                // the newcomer's work (ms) inside each running turn's current gap between two chunks, and the most
                // any one gap held: what the newcomer made that gap grow by
                double[] prefillInGap = new double[running];
                double mostPrefillInGap = 0;
                double encoderMs = -1;
                double beginMs = -1;
                double blocksMs = -1;
                Map<String, Double> longestByKind = new LinkedHashMap<>(); // begin, logmel, convolutions, blocks, prompt
                List<Double> promptSteps = new ArrayList<>(); // each prompt slice's (or fused step's) work, in steps T
                EncoderSlices encoder = new EncoderSlices(pacer, sliceRows > 0);
                while (!joined) {
                    long l0 = System.nanoTime();
                    List<TurnGenerator> speaking = new ArrayList<>();
                    for (int i = 0; i < running; i++) {
                        if (!turns.get(i).isDone() && !Double.isNaN(lastChunk.get(i))) {
                            speaking.add(turns.get(i));
                        }
                    }
                    boolean encoderPhase = start == null || start.encoderBlocksLeft() > 0;
                    String kind = sliceRows == 0 ? "oneshot" : start == null ? "begin"
                            : start.encoderPreludeLeft() == 2 ? "logmel" : start.encoderPreludeLeft() == 1 ? "convolutions"
                            : start.encoderBlocksLeft() > 0 ? "blocks" : "prompt";
                    boolean slice = !gapBound || budget.mayRun(speaking);
                    if (slice) {
                        budget.sliceRan(speaking);
                    }
                    // the prompt's rows ride in this loop's step (fused mode, the encoder done)
                    TurnStart rider = null;
                    if (!slice) {
                        deferred++;
                    } else if (fused && start != null && start.encoderBlocksLeft() == 0) {
                        rider = start;
                    } else if (sliceRows == 0) {
                        turns.add(generator.start(newcomer, List.of(), null));
                        joined = true;
                    } else if (start == null) {
                        start = generator.begin(newcomer, List.of(), null); // log-mel, convolutions, prompt: one slice
                    } else if (start.encoderBlocksLeft() > 0) {
                        encoder.advance(start); // the encoder's blocks, paced as the worker paces them
                    } else {
                        int rows = sliceRows > 0 ? sliceRows : pacer.rows();
                        int ran = Math.min(rows, start.rowsLeft());
                        long s0 = System.nanoTime();
                        boolean ready = start.advance(rows);
                        pacer.sliceTook(ran, (System.nanoTime() - s0) / 1000);
                        if (ready) {
                            turns.add(start.take());
                            joined = true;
                        }
                    }
                    double sliceMs = slice ? (System.nanoTime() - l0) / 1e6 : 0;
                    boolean[] chunked = new boolean[running];
                    int riderRows = rider == null ? 0 : pacer.fusedRows();
                    double[] r = loop(generator, turns.subList(0, running), lastChunk, t0, chunked, rider, riderRows);
                    if (rider != null) {
                        // the rows' work: what this step took beyond the step before the newcomer
                        sliceMs = Math.max(0, r[0] - baselineStep);
                        if (Boolean.getBoolean("bench.trace")) {
                            System.err.printf(Locale.ROOT, "TRACE fused rows %d step %.1f ms T %.1f extra %.2f%n",
                                    generator.lastFusedRows(), r[0], baselineStep, sliceMs / baselineStep);
                        }
                        if (generator.lastFusedRows() > 0) {
                            pacer.fusedStepTook(generator.lastFusedRows(), (long) (r[0] * 1000));
                        }
                        if (rider.isReady()) {
                            turns.add(rider.take());
                            joined = true;
                        }
                    } else {
                        pacer.stepTook((long) (r[0] * 1000));
                    }
                    if (slice) {
                        longestByKind.merge(kind, sliceMs, Math::max);
                        if (kind.equals("prompt")) {
                            promptSteps.add(sliceMs / baselineStep);
                        }
                    }
                    if (slice && encoderPhase && sliceRows != 0) {
                        encoderMs = Math.max(encoderMs, sliceMs); // the longest of begin's slice and the encoder's
                        if (start != null && start.encoderSlices() == 0) {
                            beginMs = sliceMs;
                        } else {
                            blocksMs = Math.max(blocksMs, sliceMs); // log-mel, convolutions, blocks' rows
                        }
                    }
                    for (int i = 0; i < running; i++) {
                        if (turns.get(i).isDone()) {
                            continue; // a reply that ended has no gap to grow
                        }
                        prefillInGap[i] += sliceMs;
                        mostPrefillInGap = Math.max(mostPrefillInGap, prefillInGap[i]);
                        if (chunked[i]) {
                            budget.chunk(turns.get(i));
                            prefillInGap[i] = 0;
                        }
                    }
                    double loopMs = (System.nanoTime() - l0) / 1e6;
                    worst = Math.max(worst, loopMs);
                    admissionLoops.add(loopMs);
                    admissionGap = Math.max(admissionGap, r[1]);
                    loops++;
                }
                // the gap that holds the admission may end a few steps later: keep measuring 8 loops (the newcomer
                // now in the batch, one turn more than before)
                for (int s = 0; s < 8; s++) {
                    double[] r = loop(generator, turns, lastChunk, t0, new boolean[turns.size()]);
                    admissionGap = Math.max(admissionGap, r[1]);
                }
                double step = upperMedian(baseline);
                double total = admissionLoops.stream().mapToDouble(l -> Math.max(0, l - step)).sum();
                return new Run(step, worst, upperMedian(admissionLoops), total, baselineGap, admissionGap, loops,
                        deferred, mostPrefillInGap, encoderMs, beginMs, blocksMs, longestByKind, promptSteps,
                        baseline.stream().map(b -> (b - step) / step).toList());
            } finally {
                turns.forEach(TurnGenerator::close);
            }
        }
    }

    /**
     * One stepAll of the turns; returns [its wall ms, the longest gap (ms) that ended in it between two audio chunks
     * of one turn (0 if none)]; chunked[i] tells whether running turn i handed out a chunk.
     */
    private static double[] loop(SpeechGenerator generator, List<TurnGenerator> turns, List<Double> lastChunk, long t0,
            boolean[] chunked) {
        return loop(generator, turns, lastChunk, t0, chunked, null, 0);
    }

    /** As above, with a newcomer's next riderRows prompt rows riding in the step (rider null: none). */
    private static double[] loop(SpeechGenerator generator, List<TurnGenerator> turns, List<Double> lastChunk, long t0,
            boolean[] chunked, TurnStart rider, int riderRows) {
        long s0 = System.nanoTime();
        List<StepResult> rs = generator.stepAll(turns, SpeechGenerator.DecoderWork.SLICE_FINISH_AT_DONE, rider,
                Math.max(1, riderRows));
        long s1 = System.nanoTime();
        double now = (s1 - t0) / 1e6;
        double gap = 0;
        for (int i = 0; i < lastChunk.size(); i++) { // the running turns only, not a newcomer after them
            boolean audio = false;
            for (AudioPiece p : rs.get(i).audio()) {
                audio |= p.pcm().length > 0;
            }
            if (audio) {
                chunked[i] = true;
                double last = lastChunk.get(i);
                if (!Double.isNaN(last)) {
                    gap = Math.max(gap, now - last);
                }
                lastChunk.set(i, now);
            }
        }
        return new double[] {(s1 - s0) / 1e6, gap};
    }

    private static String fmt(double v) {
        return fixed(v, 2);
    }
}
