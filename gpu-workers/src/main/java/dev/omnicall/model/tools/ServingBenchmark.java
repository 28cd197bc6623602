package dev.omnicall.model.tools;

import static dev.omnicall.model.tools.BenchmarkFigures.fixed;
import static dev.omnicall.model.tools.BenchmarkFigures.nearestRank;

import ai.djl.Device;
import dev.omnicall.model.KvPool;
import dev.omnicall.model.omni.GenerationOptions;
import dev.omnicall.model.omni.OmniModel;
import dev.omnicall.model.omni.SpeechGenerator;
import dev.omnicall.model.omni.StepResult;
import dev.omnicall.model.omni.TurnGenerator;
import dev.omnicall.model.stream.AudioPiece;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The serving engine under B turns that arrive together, as the worker drives it: {@link SpeechGenerator} with the
 * LLM KV pool and the CTC pool, each loop admitting up to {@code admitPerLoop} waiting turns (encoder + prefill
 * each) and then one {@link SpeechGenerator#stepAll} of every running turn (LLM, CTC decoder, vocoder). Per B:
 * first audio p50/p95 (arrival → the end of the step that returned the turn's first non-empty chunk), the step time
 * once every turn is admitted (median and minimum of the steps without a prefill, with the mean batch they ran),
 * the audio seconds produced per wall second over those steps and over the whole run, the pools' bytes and the
 * device memory in use (a GPU: {@code cudaMemGetInfo}'s used bytes, which include torch's cached blocks; CPU: the
 * process's resident set). Same code on CPU and GPU; only shapes and device differ.
 */
final class ServingBenchmark {
    /** How one batch size is run. */
    record Settings(int maxNewTokens, int measureSteps, int admitPerLoop, double budgetSeconds) {
    }

    /** The figures of one batch size. */
    record Result(int batch, double firstAudioP50Ms, double firstAudioP95Ms, double stepMs, double stepMinMs,
            double meanBatch, int measuredSteps, double audioPerWall, double audioPerWallRun, long poolBytes,
            String memory, long ownCaches, boolean complete) {
        String line() {
            return String.format(Locale.ROOT, "B=%3d | first audio p50 %7.0f ms  p95 %7.0f ms | step %8.2f ms (min %8.2f,"
                    + " %d steps, batch %.1f) | audio %7.2f s/s (%.2f per turn; whole run %.2f s/s) | pools %s | memory %s%s",
                    batch, firstAudioP50Ms, firstAudioP95Ms, stepMs, stepMinMs, measuredSteps, meanBatch, audioPerWall,
                    audioPerWall / batch, audioPerWallRun, mib(poolBytes), memory,
                    (ownCaches > 0 ? " | " + ownCaches + " turns outside the pool" : "")
                            + (complete ? "" : " | INCOMPLETE (time budget)"));
        }

        void put(Map<String, String> out) {
            String k = "serving_b" + batch + "_";
            out.put(k + "first_audio_p50_ms", fmt(firstAudioP50Ms));
            out.put(k + "first_audio_p95_ms", fmt(firstAudioP95Ms));
            out.put(k + "step_ms", fmt(stepMs));
            out.put(k + "step_min_ms", fmt(stepMinMs));
            out.put(k + "audio_s_per_s", fmt(audioPerWall));
            out.put(k + "memory", memory.replace(' ', '_'));
            if (!complete) {
                out.put(k + "complete", "false");
            }
        }
    }

    private ServingBenchmark() {
    }

    /** B arrivals of 1.6-2.4 s of synthetic speech each. */
    static List<float[]> arrivals(int b) {
        List<float[]> out = new ArrayList<>();
        for (int i = 0; i < b; i++) {
            out.add(Benchmarks.syntheticSpeech(1.6 + 0.1 * (i % 9)));
        }
        return out;
    }

    /** Positions one turn needs: its prompt (the longest arrival) + the reply + 1. */
    static long slotPositions(OmniModel model, int maxNewTokens) {
        float[] longest = Benchmarks.syntheticSpeech(2.4);
        try (ai.djl.ndarray.NDScope scope = new ai.djl.ndarray.NDScope()) {
            scope.suppressNotUsedWarning();
            return model.prompt(model.encodeSpeech(longest), List.of(), -1).keys().length + maxNewTokens + 1L;
        }
    }

    static Result run(OmniModel model, int b, Settings s) {
        long positions = slotPositions(model, s.maxNewTokens());
        long frames = (s.maxNewTokens() + 1L) * model.ctc().upsampleFactor();
        GenerationOptions options = GenerationOptions.defaults().withMaxNewTokens(s.maxNewTokens());
        List<float[]> waiting = arrivals(b);
        try (KvPool pool = model.llm().newPool(b, positions); KvPool ctcPool = model.ctc().newPool(b, frames)) {
            long poolBytes = model.llm().poolSlotBytes(positions) * b + model.ctc().poolSlotBytes(frames) * b;
            SpeechGenerator generator = new SpeechGenerator(model, options, null, pool, ctcPool);
            List<TurnGenerator> running = new ArrayList<>();
            Map<TurnGenerator, Double> firstAudio = new HashMap<>();
            List<Double> stepMs = new ArrayList<>();
            long batchSum = 0;
            long samplesMeasured = 0;
            double measuredWallMs = 0;
            long samplesRun = 0;
            int admitted = 0;
            boolean complete = true;
            long t0 = System.nanoTime();
            try {
                while (true) {
                    double elapsed = (System.nanoTime() - t0) / 1e9;
                    if (elapsed > s.budgetSeconds()) {
                        complete = false;
                        break;
                    }
                    // admission: encoder + prefill of up to admitPerLoop newcomers
                    boolean prefilled = false;
                    for (int k = 0; k < s.admitPerLoop() && admitted < b; k++) {
                        running.add(generator.start(waiting.get(admitted++), List.of(), null));
                        prefilled = true;
                    }
                    long stepStart = System.nanoTime();
                    List<StepResult> results = generator.stepAll(running);
                    long stepEnd = System.nanoTime();
                    long samples = 0;
                    for (int i = 0; i < results.size(); i++) {
                        for (AudioPiece p : results.get(i).audio()) {
                            samples += p.pcm().length;
                            if (p.pcm().length > 0) {
                                firstAudio.putIfAbsent(running.get(i), (stepEnd - t0) / 1e6);
                            }
                        }
                    }
                    samplesRun += samples;
                    boolean everyoneIn = admitted == b;
                    if (everyoneIn && !prefilled && stepMs.size() < s.measureSteps()) {
                        stepMs.add((stepEnd - stepStart) / 1e6);
                        batchSum += running.size();
                        samplesMeasured += samples;
                        measuredWallMs += (stepEnd - stepStart) / 1e6;
                    }
                    for (int i = results.size() - 1; i >= 0; i--) {
                        if (results.get(i).done()) {
                            TurnGenerator t = running.remove(i);
                            firstAudio.putIfAbsent(t, (stepEnd - t0) / 1e6); // a reply without audio: as heard
                            t.close();
                        }
                    }
                    boolean heardAll = firstAudio.size() == b;
                    if (everyoneIn && ((heardAll && stepMs.size() >= s.measureSteps()) || running.isEmpty())) {
                        break;
                    }
                }
            } finally {
                running.forEach(TurnGenerator::close);
            }
            double wallRun = (System.nanoTime() - t0) / 1e9;
            double[] fa = firstAudio.values().stream().mapToDouble(Double::doubleValue).sorted().toArray();
            double[] st = stepMs.stream().mapToDouble(Double::doubleValue).sorted().toArray();
            String memory = memory(model.manager().getDevice());
            return new Result(b, nearestRank(fa, 0.50), nearestRank(fa, 0.95), nearestRank(st, 0.50),
                    st.length == 0 ? Double.NaN : st[0], stepMs.isEmpty() ? 0 : batchSum / (double) stepMs.size(),
                    stepMs.size(), measuredWallMs == 0 ? Double.NaN : samplesMeasured / 16000.0 / (measuredWallMs / 1000),
                    samplesRun / 16000.0 / wallRun, poolBytes, memory, generator.perSequenceTurns(),
                    complete && firstAudio.size() == b);
        }
    }

    /** Device memory in use: on a GPU the device's used bytes (cudaMemGetInfo), on CPU the process's VmRSS. */
    static String memory(Device device) {
        if (device.isGpu()) {
            try {
                java.lang.management.MemoryUsage u = ai.djl.util.cuda.CudaUtils.getGpuMemory(device);
                return "gpu used " + mib(u.getCommitted()) + " of " + mib(u.getMax());
            } catch (Throwable e) { // a missing libcudart must not end the check: nvidia-smi in the script says it too
                return "gpu unknown (" + e.getClass().getSimpleName() + ")";
            }
        }
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) {
                    return "rss " + mib(Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024);
                }
            }
        } catch (IOException | NumberFormatException e) {
            // fall through
        }
        return "unknown";
    }

    static String mib(long bytes) {
        return String.format(Locale.ROOT, "%.0f MiB", bytes / 1048576.0);
    }

    static String fmt(double v) {
        return fixed(v, 2);
    }

    static int[] parseInts(String csv) {
        return Arrays.stream(csv.split(",")).map(String::trim).mapToInt(Integer::parseInt).toArray();
    }
}
