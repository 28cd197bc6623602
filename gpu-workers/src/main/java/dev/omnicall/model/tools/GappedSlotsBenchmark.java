package dev.omnicall.model.tools;

import static dev.omnicall.model.tools.BenchmarkFigures.fixed;
import static dev.omnicall.model.tools.BenchmarkFigures.keyValueLine;
import static dev.omnicall.model.tools.BenchmarkFigures.loadAverage;
import static dev.omnicall.model.tools.BenchmarkFigures.median;

import ai.djl.ndarray.NDScope;
import dev.omnicall.model.KvPool;
import dev.omnicall.model.LlamaModel;
import dev.omnicall.model.ModelOptions;
import dev.omnicall.model.SequenceCache;
import dev.omnicall.model.omni.OmniConfig;
import dev.omnicall.model.omni.OmniModel;
import dev.omnicall.model.omni.TinyCheckpointWriter;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * One pooled LLM decode step ({@link LlamaModel#decode}) of B rows whose slots are consecutive (slots 0..B-1 of a
 * pool of 2B) and whose slots have others between them (the even slots 0, 2, .., 2B-2; the odd ones parked calls with
 * their own caches): the step's wall time (median and minimum of --steps steps, every row's cache held at its length)
 * and its top-level aten::index calls (gathers; a pool read as a view makes none). Uses only the public pool API, so
 * the same program times any build of the pool: run it once on each build's classes and compare the two lines.
 * Tiny checkpoint at --batches, the ~90 M LLM of {@link DecodeBenchmark} (random weights) at --small-batches. Prints a
 * table and ends with one key=value line ({@code --label} prefixes the keys).
 * <pre>java -cp ... dev.omnicall.model.tools.GappedSlotsBenchmark [--label after] [--batches 8,32,64]
 *     [--small-batches 8] [--steps 40] [--prompt 96..160] [--threads 1]</pre>
 */
public final class GappedSlotsBenchmark {
    private final Map<String, String> results = new LinkedHashMap<>();
    private final String label;
    private final int steps;
    private final int promptMin;
    private final int promptMax;

    private GappedSlotsBenchmark(String label, int steps, int promptMin, int promptMax) {
        this.label = label;
        this.steps = steps;
        this.promptMin = promptMin;
        this.promptMax = promptMax;
    }

    public static void main(String[] args) throws IOException {
        DumpStages.Args a = new DumpStages.Args(args);
        System.setProperty("ai.djl.pytorch.num_threads", a.get("--threads", "1"));
        System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
        String[] prompt = a.get("--prompt", "96..160").split("\\.\\.");
        GappedSlotsBenchmark b = new GappedSlotsBenchmark(a.get("--label", "run"),
                Integer.parseInt(a.get("--steps", "40")), Integer.parseInt(prompt[0]), Integer.parseInt(prompt[1]));
        b.results.put(b.label + "_load_start", loadAverage());
        System.out.println("load average at start: " + loadAverage());
        Path tinyDir = TinyCheckpointWriter.writeIfAbsent(Path.of(".omnicall", "tiny-checkpoint"), 1L);
        ModelOptions options = ModelOptions.defaults().withDevice(a.get("--device", "cpu")).withPaddedSeconds(0);
        System.out.println("  model | B | layout | step ms median | step ms min | aten::index per step");
        try (OmniModel tiny = OmniModel.load(tinyDir, options)) {
            for (int bsz : ints(a.get("--batches", "8,32,64"))) {
                b.measure("tiny", tiny.llm(), bsz);
            }
        }
        int[] small = ints(a.get("--small-batches", "8"));
        if (small.length > 0) {
            OmniConfig config = DecodeBenchmark.smallLlm(TinyCheckpointWriter.tinyConfig());
            try (OmniModel model = OmniModel.assemble(config, new RandomWeights(7),
                    TinyCheckpointWriter.tinyVocoderConfig(), new RandomWeights(8), tinyDir, options)) {
                for (int bsz : small) {
                    b.measure("small", model.llm(), bsz);
                }
            }
        }
        System.out.println("load average at end: " + loadAverage());
        b.results.put(b.label + "_load_end", loadAverage());
        System.out.println(keyValueLine(b.results));
    }

    private static int[] ints(String csv) {
        return csv.isBlank() ? new int[0] : Arrays.stream(csv.split(",")).mapToInt(Integer::parseInt).toArray();
    }

    /** Both layouts of bsz rows, each in a pool of 2 × bsz slots. */
    private void measure(String name, LlamaModel llm, int bsz) throws IOException {
        for (boolean gapped : new boolean[] {false, true}) {
            SplittableRandom r = new SplittableRandom(bsz);
            try (KvPool pool = llm.newPool(2 * bsz, promptMax + 8L); NDScope scope = new NDScope()) {
                scope.suppressNotUsedWarning();
                List<KvPool.Slot> slots = new ArrayList<>();
                for (int i = 0; i < 2 * bsz; i++) {
                    KvPool.Slot s = pool.acquire();
                    long[] prompt = r.longs(promptMin + r.nextInt(promptMax - promptMin + 1), 0, 256).toArray();
                    llm.forward(llm.embed(prompt), s, prompt);
                    slots.add(s);
                }
                List<SequenceCache> rows = new ArrayList<>();
                for (int i = 0; i < 2 * bsz; i++) {
                    boolean runs = gapped ? i % 2 == 0 : i < bsz;
                    if (runs) {
                        rows.add(slots.get(i));
                    } else {
                        slots.get(i).park();
                    }
                }
                long[] tokens = r.longs(bsz, 0, 256).toArray();
                for (int s = 0; s < 3; s++) {
                    step(llm, tokens, rows);
                }
                double[] index = NativeOps.byName(() -> step(llm, tokens, rows)).get("aten::index");
                long gathers = index == null ? 0 : (long) index[0];
                double[] t = new double[steps];
                for (int s = 0; s < steps; s++) {
                    long t0 = System.nanoTime();
                    step(llm, tokens, rows);
                    t[s] = (System.nanoTime() - t0) / 1e6;
                }
                String layout = gapped ? "gapped" : "consecutive";
                double median = median(t);
                double min = Arrays.stream(t).min().orElseThrow();
                System.out.printf(Locale.ROOT, "  %5s | %2d | %11s | %14.3f | %11.3f | %d%n", name, bsz, layout, median,
                        min, gathers);
                String k = label + "_" + name + "_b" + bsz + "_" + layout;
                results.put(k + "_ms", fmt(median));
                results.put(k + "_min_ms", fmt(min));
                results.put(k + "_index_ops", Long.toString(gathers));
            }
        }
    }

    /** One decode step, waiting for its logits, then every row's cache back to its length. */
    private static void step(LlamaModel llm, long[] tokens, List<SequenceCache> rows) {
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            llm.decode(tokens, rows).lastLogits().argMax(-1).toLongArray();
        }
        for (SequenceCache c : rows) {
            c.truncate(c.length() - 1);
        }
    }

    private static String fmt(double v) {
        return fixed(v, 3);
    }
}
