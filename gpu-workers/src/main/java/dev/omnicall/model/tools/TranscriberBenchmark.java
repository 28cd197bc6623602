package dev.omnicall.model.tools;

import static dev.omnicall.model.tools.BenchmarkFigures.keyValueLine;
import static dev.omnicall.model.tools.BenchmarkFigures.upperMedian;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.omnicall.model.ModelOptions;
import dev.omnicall.model.Transcriber;
import dev.omnicall.model.Transcription;
import dev.omnicall.model.WhisperDecoder;
import dev.omnicall.model.WhisperTokenizer;
import dev.omnicall.model.omni.OmniModel;
import dev.omnicall.model.omni.TinyCheckpointWriter;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The caller transcriber's cost per utterance: the Whisper decoder's cross-attention K/V (once per
 * utterance), the 4-token prompt, one greedy token (decode step + masked argmax), at the start and at a far
 * position, and a whole 12-token utterance, for encoder outputs of {@code --frames} rows (1500 = the 30 s
 * padded reference, 250 = a 5 s utterance with the latency option). Configs: {@code tiny} (the test
 * checkpoint) and {@code large-v3} (Whisper large-v3's decoder shape: 32 blocks x 1280, 20 heads, n_vocab
 * 51866, random weights, float32 on CPU) with a synthetic 50257-token vocabulary. Ends with one key=value line.
 * <pre>java -cp ... dev.omnicall.model.tools.TranscriberBenchmark [--configs tiny,large-v3] [--frames 250,1500]
 *     [--far 100] [--repeats 3] [--threads 1] [--device cpu] [--beams 1,5]</pre>
 * {@code --beams}: the public API's wall time per utterance for each beam count, best and median of the repeats
 * (the first's best is also the plain {@code api_wall_ms}); a step of N beams is one decoder forward of N rows plus
 * the gather of their caches when the chosen parents reorder them. Uses only the public API that main had before
 * the batched search, so the same class measures a build of either.
 */
public final class TranscriberBenchmark {
    private static final int UTTERANCE_TOKENS = 12;
    private final Map<String, String> results = new LinkedHashMap<>();

    public static void main(String[] args) throws IOException {
        DumpStages.Args a = new DumpStages.Args(args);
        System.setProperty("ai.djl.pytorch.num_threads", a.get("--threads", "1"));
        System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
        List<String> configs = Arrays.asList(a.get("--configs", "tiny,large-v3").split(","));
        int[] frameCounts = Arrays.stream(a.get("--frames", "250,1500").split(",")).mapToInt(Integer::parseInt)
                .toArray();
        int far = Integer.parseInt(a.get("--far", "100"));
        int repeats = Integer.parseInt(a.get("--repeats", "3"));
        String device = a.get("--device", "cpu");
        int[] beams = Arrays.stream(a.get("--beams", "1").split(",")).mapToInt(Integer::parseInt).toArray();
        TranscriberBenchmark b = new TranscriberBenchmark();
        b.results.put("load_start", String.format("%.2f", load()));
        b.tinyWrite();
        ModelOptions options = ModelOptions.defaults().withDevice(device).withPaddedSeconds(0);
        for (String name : configs) {
            long t0 = System.nanoTime();
            if (name.equals("tiny")) {
                Path dir = TinyCheckpointWriter.writeIfAbsent(Path.of(".omnicall", "tiny-checkpoint"), 1L);
                try (OmniModel model = OmniModel.load(dir, options)) {
                    System.out.printf("%n== tiny: loaded in %.1f s%n", (System.nanoTime() - t0) / 1e9);
                    b.measure(name, model.transcriber().orElseThrow(), model.manager(), frameCounts, far, repeats, beams);
                }
            } else if (name.equals("large-v3")) {
                try (NDManager manager = NDManager.newBaseManager(options.djlDevice())) {
                    Transcriber t = Transcriber.create(new RandomWeights(11), WhisperDecoder.Dims.largeV3(),
                            syntheticVocabulary(), manager, options.dataType());
                    System.out.printf("%n== large-v3-shaped decoder (random %s): made in %.1f s%n",
                            options.dataType(), (System.nanoTime() - t0) / 1e9);
                    b.measure(name, t, manager, frameCounts, far, repeats, beams);
                }
            } else {
                throw new IllegalArgumentException("unknown config " + name + " (tiny, large-v3)");
            }
        }
        b.results.put("load_end", String.format("%.2f", load()));
        System.out.println(keyValueLine(b.results));
    }

    private static double load() {
        return ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
    }

    /** Time to write the tiny checkpoint (with its decoder and vocabulary) into a fresh directory. */
    private void tinyWrite() throws IOException {
        double best = Double.MAX_VALUE;
        for (int i = 0; i < 3; i++) {
            Path dir = Files.createTempDirectory("tiny-write");
            long t0 = System.nanoTime();
            TinyCheckpointWriter.writeIfAbsent(dir.resolve("ckpt"), 1L);
            best = Math.min(best, (System.nanoTime() - t0) / 1e6);
        }
        System.out.printf("tiny checkpoint written (with decoder and vocabulary), best of 3: %.0f ms%n", best);
        results.put("tiny_write_ms", String.format("%.0f", best));
    }

    /** multilingual.tiktoken's shape: the 256 bytes, then distinct filler tokens up to 50257. */
    private static WhisperTokenizer syntheticVocabulary() {
        List<byte[]> tokens = new ArrayList<>();
        for (int b = 0; b < 256; b++) {
            tokens.add(new byte[] {(byte) b});
        }
        for (int i = 0; tokens.size() < 50257; i++) {
            tokens.add(("\u0001t" + i).getBytes(StandardCharsets.UTF_8));
        }
        return WhisperTokenizer.of(tokens, WhisperDecoder.Dims.largeV3().nVocab(), "synthetic 50257");
    }

    private void measure(String name, Transcriber t, NDManager parent, int[] frameCounts, int far, int repeats,
            int[] beamCounts) {
        WhisperDecoder decoder = t.decoder();
        WhisperTokenizer tok = t.tokenizer();
        long[] prompt = {tok.startOfTranscript(), tok.languageToken("en"), tok.transcribe(), tok.noTimestamps()};
        int d = decoder.dims().nTextState();
        for (int frames : frameCounts) {
            try (NDManager m = parent.newSubManager()) {
                NDArray xa = m.randomNormal(0, 1, new Shape(frames, d), DataType.FLOAT32).toType(decoder.dataType(),
                        false);
                double cross = Double.MAX_VALUE;
                double promptMs = Double.MAX_VALUE;
                double near = Double.MAX_VALUE;
                double farMs = Double.MAX_VALUE;
                double utterance = Double.MAX_VALUE;
                for (int r = 0; r < repeats; r++) {
                    // cross K/V once, the prompt, then greedy tokens (argmax of the logits, as a step does)
                    long t0 = System.nanoTime();
                    try (WhisperDecoder.State state = decoder.newState(xa)) {
                        long t1 = System.nanoTime();
                        long next = argmax(decoder.decode(state, prompt, false));
                        long t2 = System.nanoTime();
                        long[] stepNs = new long[UTTERANCE_TOKENS];
                        for (int i = 0; i < UTTERANCE_TOKENS; i++) {
                            long s0 = System.nanoTime();
                            next = argmax(decoder.decode(state, new long[] {next % tok.endOfText()}, false));
                            stepNs[i] = System.nanoTime() - s0;
                        }
                        long t3 = System.nanoTime();
                        cross = Math.min(cross, (t1 - t0) / 1e6);
                        promptMs = Math.min(promptMs, (t2 - t1) / 1e6);
                        near = Math.min(near, upperMedian(stepNs) / 1e6);
                        utterance = Math.min(utterance, (t3 - t0) / 1e6);
                        // on to the far position, then time a few steps there
                        while (state.length() < far) {
                            next = argmax(decoder.decode(state, new long[] {next % tok.endOfText()}, false));
                        }
                        long[] farNs = new long[5];
                        for (int i = 0; i < farNs.length; i++) {
                            long s0 = System.nanoTime();
                            next = argmax(decoder.decode(state, new long[] {next % tok.endOfText()}, false));
                            farNs[i] = System.nanoTime() - s0;
                        }
                        farMs = Math.min(farMs, upperMedian(farNs) / 1e6);
                    }
                }
                // and through the public API (suppression included; random weights may stop before the cap), per beam count
                double api = 0;
                int apiTokens = 0;
                String text = "";
                double[] apiByBeams = new double[beamCounts.length];
                double[] apiMedianByBeams = new double[beamCounts.length];
                for (int b = 0; b < beamCounts.length; b++) {
                    apiByBeams[b] = Double.MAX_VALUE;
                    double[] walls = new double[repeats];
                    for (int r = 0; r < repeats; r++) {
                        long t0 = System.nanoTime();
                        try (Transcription run = t.start(xa, "en", UTTERANCE_TOKENS, beamCounts[b])) {
                            while (!run.step()) {
                                // to the end or the cap
                            }
                            if (b == 0) {
                                apiTokens = run.tokenCount();
                                text = run.text();
                            }
                        }
                        walls[r] = (System.nanoTime() - t0) / 1e6;
                        apiByBeams[b] = Math.min(apiByBeams[b], walls[r]);
                    }
                    apiMedianByBeams[b] = upperMedian(walls);
                }
                api = apiByBeams[0];
                // the compute of an utterance without the scheduler's stalls of a loaded box: K/V + prompt + 12 medians
                double estimate = cross + promptMs + UTTERANCE_TOKENS * near;
                System.out.printf("%s, %d frames: cross K/V %.1f ms, prompt %.1f ms, per token %.2f ms (median, tokens 1-12),"
                        + " %.2f ms (at position %d); %d-token utterance %.1f ms (K/V + prompt + %d medians), %.1f ms wall;"
                        + " Transcriber.start+steps %.1f ms wall for %d tokens%n", name, frames, cross, promptMs, near,
                        farMs, far, UTTERANCE_TOKENS, estimate, UTTERANCE_TOKENS, utterance, api, apiTokens);
                System.out.printf("  text (random weights): \"%s\"%n", text.length() > 80 ? text.substring(0, 80) + "..." : text);
                String k = name.replace("-", "") + "_f" + frames + "_";
                results.put(k + "cross_ms", String.format("%.1f", cross));
                results.put(k + "prompt_ms", String.format("%.1f", promptMs));
                results.put(k + "token_ms", String.format("%.2f", near));
                results.put(k + "token_ms_at" + far, String.format("%.2f", farMs));
                results.put(k + "utterance12_ms", String.format("%.1f", estimate));
                results.put(k + "utterance12_wall_ms", String.format("%.1f", utterance));
                results.put(k + "api_wall_ms", String.format("%.1f", api));
                for (int b = 0; b < beamCounts.length; b++) {
                    System.out.printf("  Transcriber.start+steps with %d beam(s): %.1f ms wall (best), %.1f ms (median of %d)%n",
                            beamCounts[b], apiByBeams[b], apiMedianByBeams[b], repeats);
                    results.put(k + "api_wall_ms_beams" + beamCounts[b], String.format("%.1f", apiByBeams[b]));
                    results.put(k + "api_median_ms_beams" + beamCounts[b], String.format("%.1f", apiMedianByBeams[b]));
                }
            }
        }
    }

    private static long argmax(NDArray logits) {
        try (logits; NDArray i = logits.argMax()) {
            return i.toType(DataType.INT64, false).getLong();
        }
    }
}
