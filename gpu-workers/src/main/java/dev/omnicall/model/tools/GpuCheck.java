package dev.omnicall.model.tools;

import static dev.omnicall.model.tools.BenchmarkFigures.keyValueLine;
import static dev.omnicall.model.tools.BenchmarkFigures.loadAverage;

import dev.omnicall.model.ModelOptions;
import dev.omnicall.model.config.RopeScaling;
import dev.omnicall.model.omni.OmniConfig;
import dev.omnicall.model.omni.OmniModel;
import dev.omnicall.model.omni.TinyCheckpointWriter;
import dev.omnicall.model.omni.VocoderConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What {@code scripts/gpu-check} runs (issue 14 item 6), in two parts, the same code on a GPU and on the CPU:
 * <ol>
 * <li>Stage comparison: each checkpoint of {@code --checkpoints} (default: the trained demo model and the tiny
 * random one) loaded twice, on the CPU in float32 (the reference) and on {@code --device} in {@code --dtype}
 * (float16 by default), one utterance through every stage, compared with the tolerances {@link StageCompare}
 * states. Any stage over its bound fails the check (exit 1).</li>
 * <li>Serving benchmark ({@link ServingBenchmark}): {@code --shapes 8b} = Llama-3.1-8B-Omni (Llama 4096 wide, 32
 * layers, 32/8 heads, FFN 14336, vocab 128256; Whisper-large-v3-shaped encoder; CTC decoder (2,4096,32,11008);
 * the published CodeHiFiGAN), random weights, on {@code --device} in {@code --dtype}; {@code --shapes tiny} = the
 * tiny checkpoint's shapes with random weights (the CPU smoke test). For each B of {@code --batches}: first audio
 * p50/p95, step time, audio seconds per wall second, pool bytes, device memory.</li>
 * </ol>
 * Prints the load average at start and end and ends with one key=value line ({@code check=pass|fail}).
 * <pre>java -cp ... dev.omnicall.model.tools.GpuCheck [--device cpu|gpu:0] [--dtype float16] [--shapes tiny|8b]
 *     [--batches 1,8,32,64,128,256] [--checkpoints demo-model/checkpoint,tiny] [--stage-tokens 24]
 *     [--new-tokens 64] [--steps 16] [--admit-per-loop 0 (= all waiting)] [--budget-s 60] [--threads 1]
 *     [--serving-dtype float16 on a GPU, float32 on the CPU]</pre>
 */
public final class GpuCheck {
    private GpuCheck() {
    }

    public static void main(String[] args) throws IOException {
        DumpStages.Args a = new DumpStages.Args(args);
        String device = a.get("--device", "cpu");
        if (!device.startsWith("gpu")) {
            // on the CPU one intra-op thread (a shared CI box); a GPU keeps DJL's default
            System.setProperty("ai.djl.pytorch.num_threads", a.get("--threads", "1"));
            System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
        }
        String dtype = a.get("--dtype", "float16");
        String shapes = a.get("--shapes", device.startsWith("gpu") ? "8b" : "tiny");
        int[] batches = ServingBenchmark.parseInts(a.get("--batches", shapes.equals("8b") ? "1,8,32,64,128,256" : "1,4,8"));
        Map<String, String> results = new LinkedHashMap<>();
        results.put("load_start", loadAverage());
        results.put("device", device);
        results.put("dtype", dtype);
        System.out.println("gpu-check: device " + device + ", " + dtype + ", serving shapes " + shapes
                + ", load average at start " + loadAverage());
        long t0 = System.nanoTime();
        Path tinyDir = TinyCheckpointWriter.writeIfAbsent(Path.of(".omnicall", "tiny-checkpoint"), 1L);

        // 1. stages: target device + type against CPU float32
        boolean pass = true;
        float[] audio = Benchmarks.syntheticSpeech(2.0);
        int stageTokens = Integer.parseInt(a.get("--stage-tokens", "24"));
        List<String> checkpoints = new ArrayList<>(List.of(a.get("--checkpoints", "demo-model/checkpoint,tiny").split(",")));
        for (String name : checkpoints) {
            Path dir = name.equals("tiny") ? tinyDir : Path.of(name);
            if (!Files.isDirectory(dir)) {
                System.out.println("\n== stages of " + dir + ": not there, skipped");
                continue;
            }
            ModelOptions base = ModelOptions.defaults().withPaddedSeconds(0).withTranscriber(false);
            StageCompare.Stages ref;
            try (OmniModel m = OmniModel.load(dir, base.withDevice("cpu").withComputeType("float32"))) {
                ref = StageCompare.run(m, audio, stageTokens, null, null, null);
            }
            StageCompare.Stages target;
            try (OmniModel m = OmniModel.load(dir, base.withDevice(device).withComputeType(dtype))) {
                target = StageCompare.run(m, audio, stageTokens, ref.fed(), ref.units(), ref.durations());
            }
            System.out.printf(Locale.ROOT, "%n== stages of %s: %s %s vs cpu float32 (%d tokens, %d units, teacher-forced)%n",
                    dir, device, dtype, ref.fed().length, ref.units().length);
            String key = "stages_" + name.replaceAll("[^A-Za-z0-9]+", "_");
            for (StageCompare.Row row : StageCompare.compare(ref, target)) {
                System.out.println(row.format());
                results.put(key + "_" + row.stage(), String.format(Locale.ROOT, "%.3g", row.value()));
                pass &= row.ok();
            }
        }

        // 2. serving benchmark
        OmniConfig config = shapes.equals("8b") ? llama31Omni8b() : TinyCheckpointWriter.tinyConfig();
        VocoderConfig vocoder = shapes.equals("8b") ? Benchmarks.publishedVocoder() : TinyCheckpointWriter.tinyVocoderConfig();
        // serving in the device's own type: float16 on a GPU; float32 on the CPU, whose float16 kernels are slow
        String servingType = a.get("--serving-dtype", device.startsWith("gpu") ? dtype : "float32");
        ModelOptions options = ModelOptions.defaults().withDevice(device).withComputeType(servingType)
                .withPaddedSeconds(0);
        long loadStart = System.nanoTime();
        try (OmniModel model = OmniModel.assemble(config, new RandomWeights(7), vocoder, new RandomWeights(8), tinyDir,
                options)) {
            double loadS = (System.nanoTime() - loadStart) / 1e9;
            System.out.printf(Locale.ROOT, "%n== serving, %s shapes (%d wide, %d layers, %d/%d heads, FFN %d, vocab %d), random"
                    + " weights, %s %s, assembled in %.1f s; memory %s%n", shapes, config.hiddenSize(),
                    config.numHiddenLayers(), config.numAttentionHeads(), config.numKeyValueHeads(),
                    config.intermediateSize(), config.vocabSize(), device, servingType, loadS,
                    ServingBenchmark.memory(model.manager().getDevice()));
            int admit = Integer.parseInt(a.get("--admit-per-loop", "0"));
            ServingBenchmark.Settings warm = new ServingBenchmark.Settings(8, 2, 2, 60);
            ServingBenchmark.run(model, 2, warm); // warm-up: JIT, allocator, kernels
            for (int b : batches) {
                ServingBenchmark.Settings s = new ServingBenchmark.Settings(
                        Integer.parseInt(a.get("--new-tokens", shapes.equals("8b") ? "64" : "24")),
                        Integer.parseInt(a.get("--steps", shapes.equals("8b") ? "16" : "6")), admit <= 0 ? b : admit,
                        Double.parseDouble(a.get("--budget-s", "60")));
                ServingBenchmark.Result r = ServingBenchmark.run(model, b, s);
                System.out.println(r.line());
                r.put(results);
                if (r.measuredSteps() == 0) {
                    System.out.println("  (no step ran with every turn admitted: raise --new-tokens or --budget-s)");
                }
            }
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        System.out.printf(Locale.ROOT, "%ngpu-check %s in %.0f s (load average at end %s)%n", pass ? "passed" : "FAILED",
                seconds, loadAverage());
        results.put("seconds", String.format(Locale.ROOT, "%.0f", seconds));
        results.put("load_end", loadAverage());
        results.put("check", pass ? "pass" : "fail");
        System.out.println(keyValueLine(results));
        System.exit(pass ? 0 : 1);
    }

    /** LLaMA-Omni's Llama-3.1-8B-Instruct with its speech parts (the published config's shapes). */
    static OmniConfig llama31Omni8b() {
        return new OmniConfig("omni_speech2s_llama", 4096, 14336, 32, 8, 32, 1e-5, 500000,
                RopeScaling.llama3(8, 1, 4, 8192), 128256, 131072, 128000, List.of(128001, 128008, 128009), false,
                "float16", "whisper", 5, 1280, 20, 32, "linear", 2048, "ctc", "(2,4096,32,11008)", 25, 1000);
    }
}
