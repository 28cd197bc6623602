package dev.omnicall.app.bench;

import ai.djl.ndarray.NDArray;
import dev.omnicall.model.HistoryTurn;
import dev.omnicall.model.ModelOptions;
import dev.omnicall.model.Transcription;
import dev.omnicall.model.omni.CallCache;
import dev.omnicall.model.omni.ChatPrompt;
import dev.omnicall.model.omni.GenerationOptions;
import dev.omnicall.model.omni.OmniModel;
import dev.omnicall.model.omni.SpeechGenerator;
import dev.omnicall.model.omni.TinyCheckpointWriter;
import dev.omnicall.model.omni.TurnGenerator;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * What a call's second turn pays for its history carrying the caller's first words (CallerText, issue 11) instead of
 * the placeholder an untranscribed turn gets ({@link HistoryTurn.UNTRANSCRIBED_USER}): in process, on the tiny
 * checkpoint the zero-setup run and PipelineBenchmark use, one torch thread. For each variant of turn 0's user text
 * (the placeholder; the tiny random Whisper decoder's text capped at 16 tokens, about a trained decoder's length for
 * a short sentence; capped at 128, the default cap, which the random decoder always reaches) it runs turn 0 to its end,
 * then turn 1 on turn 0's cache as the worker does, and times turn 1's prefill and its steps to the first audio chunk;
 * the variants alternate, so the box's load drifts into all of them alike. Prints the prompt's length in LLM tokens
 * and p50s, then one {@code key=value} line.
 *
 * <pre>
 * java -Dai.djl.offline=true -Dbench.reps=20 -cp ... dev.omnicall.app.bench.HistoryLengthBenchmark
 * </pre>
 */
public final class HistoryLengthBenchmark {

    private HistoryLengthBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        int reps = Integer.parseInt(System.getProperty("bench.reps", "20"));
        Path dir = TinyCheckpointWriter.writeIfAbsent(Path.of("quarkus-app/target/tiny-checkpoint-history").toAbsolutePath(),
                20240906L);
        OmniModel model = OmniModel.load(dir, ModelOptions.defaults().withPaddedSeconds(0));
        float[] audio0 = signal(2.5, 1);
        float[] audio1 = signal(2.0, 2);
        Map<String, String> userText = new LinkedHashMap<>();
        userText.put("placeholder", null);
        for (int cap : new int[] {16, 128}) {
            NDArray enc = model.encodeAudio(audio0);
            try (Transcription t = model.transcriber().orElseThrow().start(enc, null, cap)) {
                while (!t.isDone()) {
                    t.step();
                }
                userText.put("words" + cap, t.text());
            } finally {
                enc.close();
            }
        }
        SpeechGenerator generator = new SpeechGenerator(model, GenerationOptions.defaults().withMaxNewTokens(48));
        Map<String, List<Double>> prefill = new LinkedHashMap<>();
        Map<String, List<Double>> toAudio = new LinkedHashMap<>();
        Map<String, Integer> promptTokens = new LinkedHashMap<>();
        List<String> order = new ArrayList<>(userText.keySet());
        for (int r = -2; r < reps; r++) { // two unmeasured rounds first
            Collections.rotate(order, 1);
            for (String v : order) {
                TurnGenerator t0 = generator.start(audio0, List.of(), null);
                while (!t0.isDone()) {
                    t0.step();
                }
                List<HistoryTurn> history = List.of(new HistoryTurn(userText.get(v), t0.text()));
                CallCache cache = t0.takeCache();
                t0.close();
                long a = System.nanoTime();
                TurnGenerator t1 = generator.start(audio1, history, cache);
                long b = System.nanoTime();
                while (!t1.isDone() && t1.step().audio().isEmpty()) {
                    // steps until the first chunk
                }
                long c = System.nanoTime();
                promptTokens.put(v, model.tokenizer().encode(ChatPrompt.build(history).beforeSpeech()).length
                        - t1.reusedPositions());
                t1.close();
                if (r >= 0) {
                    prefill.computeIfAbsent(v, k -> new ArrayList<>()).add((b - a) / 1e6);
                    toAudio.computeIfAbsent(v, k -> new ArrayList<>()).add((c - b) / 1e6);
                }
            }
        }
        StringBuilder line = new StringBuilder("bench=history_length reps=" + reps);
        for (String v : userText.keySet()) {
            String text = userText.get(v) == null ? HistoryTurn.UNTRANSCRIBED_USER : userText.get(v);
            double p = PipelineBenchmark.percentile(prefill.get(v), 0.50);
            double s = PipelineBenchmark.percentile(toAudio.get(v), 0.50);
            System.out.printf(Locale.ROOT, "%-12s user text %3d chars, %3d history+speech-header tokens to prefill beyond the"
                    + " reused cache; turn 1 prefill p50 %.1f ms, prefill end -> first chunk p50 %.1f ms%n", v,
                    text.length(), promptTokens.get(v), p, s);
            line.append(' ').append(v).append("_prefill_p50_ms=").append(PipelineBenchmark.fmt(p))
                    .append(' ').append(v).append("_to_first_chunk_p50_ms=").append(PipelineBenchmark.fmt(s))
                    .append(' ').append(v).append("_tokens=").append(promptTokens.get(v));
        }
        System.out.println(line);
        model.close();
    }

    /** Two tones and a little noise, 16 kHz, in [-1, 1]: the decoder's input, whose words do not matter here. */
    private static float[] signal(double seconds, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[(int) (seconds * 16000)];
        for (int i = 0; i < x.length; i++) {
            double t = i / 16000.0;
            x[i] = (float) (0.3 * Math.sin(2 * Math.PI * 220 * t) + 0.2 * Math.sin(2 * Math.PI * 1375 * t * (1 + t))
                    + 0.02 * r.nextGaussian());
        }
        return x;
    }
}
