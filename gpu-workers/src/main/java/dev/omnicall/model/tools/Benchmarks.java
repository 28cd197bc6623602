package dev.omnicall.model.tools;

import static dev.omnicall.model.tools.BenchmarkFigures.fixed;
import static dev.omnicall.model.tools.BenchmarkFigures.keyValueLine;
import static dev.omnicall.model.tools.BenchmarkFigures.upperMedian;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import dev.omnicall.model.omni.ChunkSchedule;
import dev.omnicall.model.omni.CtcUnitDecoder;
import dev.omnicall.model.KvCache;
import dev.omnicall.model.LlamaModel;
import dev.omnicall.model.ModelOptions;
import dev.omnicall.model.config.RopeScaling;
import dev.omnicall.model.omni.GenerationOptions;
import dev.omnicall.model.omni.OmniConfig;
import dev.omnicall.model.omni.OmniModel;
import dev.omnicall.model.omni.SpeechGenerator;
import dev.omnicall.model.omni.StepResult;
import dev.omnicall.model.omni.TinyCheckpointWriter;
import dev.omnicall.model.omni.TurnGenerator;
import dev.omnicall.model.omni.VocoderConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Benchmark harness for the model runtime on CPU (or --device gpu:0):
 * <ol>
 * <li>streaming cost per text token at token 20 and token 400: LLM decode step + speech decoder, with the
 * incremental CTC decoder vs the reference's full recompute of the CTC decoder over all states;</li>
 * <li>decode throughput (LLM + CTC per token, tokens/s over all turns) for 1, 4 and 8 concurrent turns,
 * batched (one LLM forward per step) vs one forward per turn;</li>
 * <li>time to first audio chunk (Ω = 10, latency option: log-mel of the input's own length) through
 * {@link SpeechGenerator}, from start() to the first non-empty chunk.</li>
 * </ol>
 * Configs: {@code tiny} (the test checkpoint) and {@code 1b} (Llama-3.2-1B-shaped LLM: 2048 wide, 16 layers,
 * 32/8 heads, FFN 8192, vocab 128256; Whisper-large-v3-shaped encoder; CTC decoder (2,2048,16,5504);
 * CodeHiFiGAN at its published size; random weights, float32). Ends with one key=value line.
 * <pre>java -cp ... dev.omnicall.model.tools.Benchmarks [--configs tiny,1b] [--device cpu] [--far 400] [--threads 1]</pre>
 */
public final class Benchmarks {
    private final Map<String, String> results = new LinkedHashMap<>();

    public static void main(String[] args) {
        DumpStages.Args a = new DumpStages.Args(args);
        // intra-op threads: 1 by default, because on a shared 2-core box OpenMP spin-waiting under
        // contention costs more than a second thread gains (measured: 230 vs 30 ms/token, tiny config)
        System.setProperty("ai.djl.pytorch.num_threads", a.get("--threads", "1"));
        System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
        List<String> configs = Arrays.asList(a.get("--configs", "tiny,1b").split(","));
        String device = a.get("--device", "cpu");
        int far = Integer.parseInt(a.get("--far", "400"));
        Benchmarks b = new Benchmarks();
        Path tinyDir = TinyCheckpointWriter.writeIfAbsent(Path.of(".omnicall", "tiny-checkpoint"), 1L);
        for (String name : configs) {
            ModelOptions options = ModelOptions.defaults().withDevice(device).withPaddedSeconds(0);
            long t0 = System.nanoTime();
            try (OmniModel model = name.equals("tiny") ? OmniModel.load(tinyDir, options)
                    : OmniModel.assemble(llama1bShaped(), new RandomWeights(7), publishedVocoder(), new RandomWeights(8),
                            tinyDir, options)) {
                System.out.printf("%n== %s: loaded in %.1f s%n", name, (System.nanoTime() - t0) / 1e9);
                boolean big = !name.equals("tiny");
                b.perToken(name, model, 20, big ? 1 : 3);
                b.perToken(name, model, far, big ? 1 : 3);
                for (int turns : new int[] {1, 4, 8}) {
                    b.throughput(name, model, turns, big ? 6 : 24);
                }
                b.firstAudio(name, model);
            }
        }
        System.out.println(keyValueLine(b.results));
    }

    /** Llama-3.2-1B-shaped LLM with the LLaMA-Omni speech parts around it. */
    static OmniConfig llama1bShaped() {
        return new OmniConfig("omni_speech2s_llama", 2048, 8192, 32, 8, 16, 1e-5, 500000,
                RopeScaling.llama3(32, 1, 4, 8192), 128256, 131072, 128000, List.of(128001, 128008, 128009), false,
                "float32", "whisper", 5, 1280, 20, 32, "linear", 2048, "ctc", "(2,2048,16,5504)", 25, 1000);
    }

    /** The published CodeHiFiGAN configuration (mHuBERT km1000). */
    static VocoderConfig publishedVocoder() {
        return new VocoderConfig(List.of(5, 4, 4, 2, 2), List.of(11, 8, 8, 4, 4), 512, "1", List.of(3, 7, 11),
                List.of(List.of(1, 3, 5), List.of(1, 3, 5), List.of(1, 3, 5)), 128, 1000, 128, 320, 16000,
                new VocoderConfig.DurationPredictorParams(128, 128, 3, 0.5));
    }

    /** Token cost when `position` tokens are already cached: incremental CTC vs CTC recompute. */
    private void perToken(String name, OmniModel model, int position, int reps) {
        LlamaModel llm = model.llm();
        NDManager m = model.manager();
        int dim = model.config().hiddenSize();
        long[] prompt = randomTokens(position, 1);
        try (NDScope scope = new NDScope(); KvCache cache = llm.newCache(position + reps + 2L);
                CtcUnitDecoder.Stream ctc = model.ctc().newStream()) {
            scope.suppressNotUsedWarning();
            llm.forward(llm.embed(prompt), cache, prompt);
            NDArray states = m.randomNormal(new Shape(position + reps + 1L, dim));
            // Warm the decoder's cache in slices, as the worker does token by token: one slice of 400 tokens is
            // 10 000 frames of attention at once (6.4 GB for the 1B shape), which is not what streaming costs.
            for (int from = 0; from < position; from += 16) {
                ctc.step(states.get("{}:{}", from, Math.min(position, from + 16)));
            }
            // The reference recompute attends over all 25·position frames at once; past ~100 tokens on a
            // full-width decoder that is more memory than this machine has, so it is measured where it fits.
            long frames = 25L * (position + 1);
            long attentionBytes = frames * frames * model.config().ctcDecoder().heads() * 4L;
            boolean recomputeFits = attentionBytes < 2L * 1024 * 1024 * 1024;
            double[] inc = new double[reps];
            double[] rec = new double[reps];
            for (int r = 0; r < reps; r++) {
                long t = System.nanoTime();
                LlamaModel.Output o = llm.decodeBatch(new long[] {7}, List.of(cache));
                ctc.step(o.hidden().get(0));
                inc[r] = (System.nanoTime() - t) / 1e6;
                if (recomputeFits) {
                    t = System.nanoTime();
                    llm.decodeBatch(new long[] {7}, List.of(cache));
                    model.ctc().offline(states.get("0:{}", position + r + 1L));
                    rec[r] = (System.nanoTime() - t) / 1e6;
                }
            }
            double incMs = upperMedian(inc);
            results.put(name + "_token" + position + "_incremental_ms", fmt(incMs));
            if (recomputeFits) {
                double recMs = upperMedian(rec);
                System.out.printf("%s token %d: incremental %.1f ms/token, CTC recompute %.1f ms/token%n", name, position,
                        incMs, recMs);
                results.put(name + "_token" + position + "_recompute_ms", fmt(recMs));
            } else {
                System.out.printf("%s token %d: incremental %.1f ms/token, CTC recompute not run (%d frames of attention"
                        + " need %.1f GB at once)%n", name, position, incMs, frames, attentionBytes / 1e9);
            }
        }
    }

    /** tokens/s with n turns decoding together, batched and not. */
    private void throughput(String name, OmniModel model, int turns, int steps) {
        for (boolean batched : new boolean[] {false, true}) {
            LlamaModel llm = model.llm();
            List<KvCache> caches = new ArrayList<>();
            List<CtcUnitDecoder.Stream> ctcs = new ArrayList<>();
            try (NDScope scope = new NDScope()) {
                scope.suppressNotUsedWarning();
                for (int i = 0; i < turns; i++) {
                    long[] prompt = randomTokens(32, 10 + i);
                    KvCache c = llm.newCache(32 + steps + 2L);
                    llm.forward(llm.embed(prompt), c, prompt);
                    caches.add(c);
                    ctcs.add(model.ctc().newStream());
                }
                long t = System.nanoTime();
                for (int s = 0; s < steps; s++) {
                    try (NDScope stepScope = new NDScope()) {
                        stepScope.suppressNotUsedWarning();
                        if (batched) {
                            long[] tokens = new long[turns];
                            Arrays.fill(tokens, 7);
                            LlamaModel.Output o = llm.decodeBatch(tokens, caches);
                            for (int i = 0; i < turns; i++) {
                                ctcs.get(i).step(o.hidden().get(i));
                            }
                        } else {
                            for (int i = 0; i < turns; i++) {
                                LlamaModel.Output o = llm.decodeBatch(new long[] {7}, List.of(caches.get(i)));
                                ctcs.get(i).step(o.hidden().get(0));
                            }
                        }
                    }
                }
                double seconds = (System.nanoTime() - t) / 1e9;
                double tps = turns * steps / seconds;
                System.out.printf("%s %d turns, batching %s: %.1f tokens/s%n", name, turns, batched ? "on " : "off", tps);
                results.put(name + "_tps_" + turns + "turns_batch_" + (batched ? "on" : "off"), fmt(tps));
            } finally {
                caches.forEach(KvCache::close);
                ctcs.forEach(CtcUnitDecoder.Stream::close);
            }
        }
    }

    /** start() to the first non-empty audio chunk with Ω = 10, 2 s of input. */
    private void firstAudio(String name, OmniModel model) {
        SpeechGenerator generator = new SpeechGenerator(model,
                GenerationOptions.defaults().withSchedule(ChunkSchedule.parse("10,20,40,80")).withMaxNewTokens(64));
        float[] audio = syntheticSpeech(2.0);
        long t = System.nanoTime();
        try (TurnGenerator turn = generator.start(audio, List.of(), null)) {
            double prefillMs = (System.nanoTime() - t) / 1e6;
            int steps = 0;
            boolean heard = false;
            while (!turn.isDone() && !heard) {
                StepResult r = turn.step();
                steps++;
                heard = r.audio().stream().anyMatch(p -> p.pcm().length > 0);
            }
            double ms = (System.nanoTime() - t) / 1e6;
            System.out.printf("%s first audio after %.0f ms (prefill %.0f ms, %d tokens)%n", name, ms, prefillMs, steps);
            results.put(name + "_first_audio_ms", fmt(ms));
            results.put(name + "_prefill_ms", fmt(prefillMs));
        }
    }

    /** A speech-like test signal: a gliding harmonic tone with syllable-rate amplitude modulation. */
    static float[] syntheticSpeech(double seconds) {
        int n = (int) (seconds * 16000);
        float[] x = new float[n];
        SplittableRandom r = new SplittableRandom(3);
        double phase = 0;
        for (int i = 0; i < n; i++) {
            double t = i / 16000.0;
            double f0 = 120 + 30 * Math.sin(2 * Math.PI * 0.7 * t);
            phase += 2 * Math.PI * f0 / 16000;
            double envelope = 0.5 + 0.5 * Math.sin(2 * Math.PI * 4 * t);
            x[i] = (float) (envelope * 0.3 * (Math.sin(phase) + 0.5 * Math.sin(2 * phase) + 0.25 * Math.sin(3 * phase))
                    + 0.01 * r.nextGaussian());
        }
        return x;
    }

    private static long[] randomTokens(int n, long seed) {
        return new SplittableRandom(seed).longs(n, 0, 256).toArray();
    }

    private static String fmt(double v) {
        return fixed(v, 1);
    }
}
