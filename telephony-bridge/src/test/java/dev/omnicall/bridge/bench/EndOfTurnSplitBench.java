package dev.omnicall.bridge.bench;

import dev.omnicall.bridge.media.AdaptiveEndOfTurn;
import dev.omnicall.bridge.media.EndOfTurnEstimator;
import dev.omnicall.bridge.media.Segment;
import dev.omnicall.bridge.media.SegmenterConfig;
import dev.omnicall.bridge.media.UtteranceSegmenter;
import dev.omnicall.bridge.vad.Vad;
import dev.omnicall.bridge.vad.VadFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * How the end-of-turn rule cuts test speech, offline, through the bridge's VAD (Silero, else energy) and
 * {@link UtteranceSegmenter}: issue 15's "count utterances split in two, before/after" for the speculative turns and
 * the adaptive end-of-turn wait. Two sets of speech, each utterance a fresh call:
 * <ul>
 *   <li><b>questions</b>: each held-out question of {@code demo-model/intents.json} in each test voice (espeak-ng,
 *       16 kHz): fluent, no pauses inside.</li>
 *   <li><b>hesitant</b>: digit strings and phrases with a filled pause, spoken in pieces (espeak-ng, each piece but
 *       the last ending in a comma, so with the continuation intonation espeak gives a comma), the pieces joined by
 *       350, 550 or 750 ms of silence. Synthetic: what a slow caller reading digits might sound like, not a
 *       recording of one.</li>
 * </ul>
 * For each end-of-turn setting (fixed silences, adaptive bounds; each with speculation off and at the given
 * speculative silence) it prints the utterances cut into more than one turn (a caller cut off), the end-of-turn
 * wait of the turns (speech end → decision, mean/p50/p90) with the adaptive rule that chose it, and with speculation
 * the speculative turns started and cancelled. Ends with a {@code key=value} line.
 *
 * <pre>
 * java -Domnicall.vad.silero-model=telephony-bridge/target/silero-vad/silero_vad.onnx \
 *     -cp telephony-bridge/target/test-classes:telephony-bridge/target/classes:$(cat cp.txt) \
 *     dev.omnicall.bridge.bench.EndOfTurnSplitBench [fixed-ms,...] [speculative-ms] [adaptive min-max@base,...] [-v]
 * </pre>
 */
public final class EndOfTurnSplitBench {

    /** Pieces of a hesitant utterance (silence goes between them). */
    private static final String[][] HESITANT = {
            {"My account number is,", "four one seven,", "two two nine,", "eight zero."},
            {"The card ends in,", "five five,", "three one."},
            {"My phone number is,", "zero seven seven,", "nine four six,", "one two two eight."},
            {"I would like to, uhm,", "cancel my order."},
            {"I need, er,", "my current balance."},
            {"The code is,", "A,", "B,", "seven,", "nine."},
            {"So, the thing is,", "my package has not arrived."},
            {"I live at,", "twenty two,", "Baker Street."},
    };
    private static final int[] GAPS_MS = {350, 550, 750};
    private static final String[] VOICES = {"en-us-nyc", "en-gb-x-gbclan"};

    private record Policy(String key, String label, SegmenterConfig config) {}

    /** One utterance through one setting. */
    private record Result(int turns, int speculative, int cancelled, List<Integer> waitsMs, List<String> reasons,
                          List<EndOfTurnEstimator.Tail> tails) {}

    private EndOfTurnSplitBench() {
    }

    public static void main(String[] args) throws Exception {
        List<String> rest = new ArrayList<>(Arrays.asList(args));
        boolean verbose = rest.remove("-v");
        int[] fixed = Arrays.stream((rest.size() > 0 ? rest.get(0) : "300,500").split(","))
                .mapToInt(Integer::parseInt).toArray();
        int speculative = rest.size() > 1 ? Integer.parseInt(rest.get(1)) : 200;
        String[] adaptive = (rest.size() > 2 ? rest.get(2) : "300-1000@500").split(",");
        Path root = Path.of("").toAbsolutePath();
        List<String> questions = testQuestions(Files.readString(root.resolve("demo-model/intents.json")));
        Path dir = Files.createTempDirectory("eot-split");
        VadFactory vads = VadFactory.create();
        Map<String, List<short[]>> sets = new java.util.LinkedHashMap<>();
        List<String> names = new ArrayList<>();
        List<short[]> fluent = new ArrayList<>();
        for (String voice : VOICES) {
            for (String q : questions) {
                fluent.add(speak(dir, voice, q));
                names.add(voice + " " + q);
            }
        }
        sets.put("questions", fluent);
        List<short[]> hesitant = new ArrayList<>();
        for (String voice : VOICES) {
            for (String[] pieces : HESITANT) {
                List<short[]> audio = new ArrayList<>();
                for (String piece : pieces) {
                    audio.add(trim(speak(dir, voice, piece)));
                }
                for (int gap : GAPS_MS) {
                    hesitant.add(join(audio, gap));
                    names.add(voice + " gap " + gap + " " + String.join(" | ", pieces));
                }
            }
        }
        sets.put("hesitant", hesitant);
        String vadName;
        try (Vad probe = vads.newVad()) {
            vadName = probe.name();
        }
        List<Policy> policies = new ArrayList<>();
        for (int end : fixed) {
            SegmenterConfig c = SegmenterConfig.defaults().withEndOfUtteranceSilenceMs(end);
            policies.add(new Policy("fixed" + end, "fixed " + end + " ms", c));
            if (speculative > 0 && speculative < end) {
                policies.add(new Policy("fixed" + end + "_spec" + speculative, "fixed " + end + " ms, speculative "
                        + speculative + " ms", c.withSpeculativeSilenceMs(speculative)));
            }
        }
        for (String a : adaptive) {
            Matcher m = Pattern.compile("(\\d+)-(\\d+)@(\\d+)").matcher(a);
            if (!m.matches()) {
                throw new IllegalArgumentException("adaptive setting '" + a + "' is not min-max@base, e.g. 300-1000@500");
            }
            int min = Integer.parseInt(m.group(1));
            int max = Integer.parseInt(m.group(2));
            int base = Integer.parseInt(m.group(3));
            SegmenterConfig c = SegmenterConfig.defaults().withEndOfUtteranceSilenceMs(base)
                    .withAdaptiveEndOfTurn(AdaptiveEndOfTurn.between(min, max));
            String key = "adaptive" + min + "_" + max + "_" + base;
            policies.add(new Policy(key, "adaptive " + min + ".." + max + " ms (base " + base + ")", c));
            if (speculative > 0 && speculative < min) {
                policies.add(new Policy(key + "_spec" + speculative, "adaptive " + min + ".." + max + " ms (base " + base
                        + "), speculative " + speculative + " ms", c.withSpeculativeSilenceMs(speculative)));
            }
        }
        System.out.printf(Locale.ROOT, "end-of-turn split bench: %d questions + %d hesitant utterances (espeak-ng, 16 kHz),"
                + " VAD %s, load average %s%n", fluent.size(), hesitant.size(), vadName, loadAverage());
        StringBuilder keys = new StringBuilder("bench=eot-split vad=" + vadName + " questions=" + fluent.size()
                + " hesitant=" + hesitant.size());
        for (Policy policy : policies) {
            int index = 0;
            for (Map.Entry<String, List<short[]>> set : sets.entrySet()) {
                int split = 0;
                int turns = 0;
                int started = 0;
                int cancelled = 0;
                List<Integer> waits = new ArrayList<>();
                Map<String, Integer> reasons = new TreeMap<>();
                for (short[] pcm : set.getValue()) {
                    Result r = run(vads, pcm, policy.config());
                    split += r.turns() > 1 ? 1 : 0;
                    turns += r.turns();
                    started += r.speculative();
                    cancelled += r.cancelled();
                    waits.addAll(r.waitsMs());
                    r.reasons().forEach(x -> reasons.merge(x, 1, Integer::sum));
                    if (verbose) {
                        System.out.printf(Locale.ROOT, "  %-40s %-48.48s turns %d waits %s %s %s%n", policy.label(),
                                names.get(index), r.turns(), r.waitsMs(), r.reasons(), describe(r.tails()));
                    }
                    index++;
                }
                int[] sorted = waits.stream().mapToInt(Integer::intValue).sorted().toArray();
                double mean = Arrays.stream(sorted).average().orElse(0);
                int p50 = percentile(sorted, 0.5);
                int p90 = percentile(sorted, 0.9);
                System.out.printf(Locale.ROOT, "%-9s %-48s: %2d of %d cut in two or more (%d turns); end-of-turn wait mean"
                                + " %.0f p50 %d p90 %d ms %s%s%n", set.getKey(), policy.label(), split, set.getValue().size(), turns, mean,
                        p50, p90, reasons, started == 0 ? "" : String.format(Locale.ROOT,
                                "; speculative turns %d, cancelled %d (%.0f %%)", started, cancelled, 100.0 * cancelled / started));
                String p = " " + set.getKey() + "_" + policy.key();
                keys.append(p).append("_split=").append(split).append(p).append("_turns=").append(turns)
                        .append(p).append("_wait_mean_ms=").append(Math.round(mean))
                        .append(p).append("_wait_p50_ms=").append(p50);
                if (started > 0) {
                    keys.append(p).append("_speculative=").append(started).append(p).append("_cancelled=").append(cancelled);
                }
            }
        }
        System.out.println(keys);
    }

    private static String describe(List<EndOfTurnEstimator.Tail> tails) {
        StringBuilder b = new StringBuilder();
        for (EndOfTurnEstimator.Tail t : tails) {
            if (t != null) {
                b.append(String.format(Locale.ROOT, "[voiced %d pitched %d trend %.1f st]", t.voicedMs(),
                        t.pitchedFrames(), t.pitchTrendSt()));
            }
        }
        return b.toString();
    }

    private static int percentile(int[] sorted, double q) {
        return sorted.length == 0 ? 0 : sorted[Math.min(sorted.length - 1, (int) Math.ceil(q * sorted.length) - 1)];
    }

    private static Result run(VadFactory vads, short[] pcm, SegmenterConfig config) {
        long[] clock = {1_700_000_000_000_000L};
        Set<Integer> cancelled = new HashSet<>();
        List<Segment> ends = new ArrayList<>();
        Map<Integer, Long> speechEnd = new HashMap<>();
        List<Integer> waits = new ArrayList<>();
        List<String> reasons = new ArrayList<>();
        List<EndOfTurnEstimator.Tail> tails = new ArrayList<>();
        UtteranceSegmenter[] holder = new UtteranceSegmenter[1];
        UtteranceSegmenter s = new UtteranceSegmenter(config, () -> clock[0], seg -> {
            if (seg.endOfUtterance()) {
                ends.add(seg);
                speechEnd.put(seg.utteranceId(), seg.speechEndUs());
            }
        }, new UtteranceSegmenter.SpeculationListener() {
            @Override
            public void cancelled(int turnId, long tentativeEndUs, long cancelledUs) {
                cancelled.add(turnId);
            }

            @Override
            public void endOfTurn(int turnId, EndOfTurnEstimator.Decision decision) {
                waits.add((int) ((clock[0] - speechEnd.get(turnId)) / 1000));
                reasons.add(decision.reason().tag());
                tails.add(holder[0].endOfTurnEstimator().lastTail());
            }
        });
        holder[0] = s;
        try (Vad vad = vads.newVad()) {
            short[] padded = new short[pcm.length + 16_000 * 2]; // two seconds of silence after: every end is decided
            System.arraycopy(pcm, 0, padded, 8_000, pcm.length);
            for (int at = 0; at + Vad.FRAME_SAMPLES <= padded.length; at += Vad.FRAME_SAMPLES) {
                short[] frame = Arrays.copyOfRange(padded, at, at + Vad.FRAME_SAMPLES);
                clock[0] += Vad.FRAME_MICROS;
                s.accept(frame, vad.speechProbability(frame), clock[0] - Vad.FRAME_MICROS);
            }
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
        int turns = 0;
        int speculativeEnds = 0;
        for (Segment end : ends) {
            speculativeEnds += end.speculative() ? 1 : 0;
            turns += cancelled.contains(end.utteranceId()) ? 0 : 1;
        }
        return new Result(turns, speculativeEnds, cancelled.size(), waits, reasons, tails);
    }

    private static List<String> testQuestions(String json) {
        // the "test" arrays of the intents (held-out questions); the file's other arrays hold no quoted sentences
        List<String> out = new ArrayList<>();
        Matcher block = Pattern.compile("\"test\"\\s*:\\s*\\[([^\\]]*)\\]").matcher(json);
        while (block.find()) {
            Matcher q = Pattern.compile("\"((?:[^\"\\\\]|\\\\.)*)\"").matcher(block.group(1));
            while (q.find()) {
                if (q.group(1).contains(" ")) {
                    out.add(q.group(1));
                }
            }
        }
        return out;
    }

    /** Drops the leading and trailing silence espeak-ng puts around a piece (|sample| under 200). */
    private static short[] trim(short[] pcm) {
        int from = 0;
        while (from < pcm.length && Math.abs(pcm[from]) < 200) {
            from++;
        }
        int to = pcm.length;
        while (to > from && Math.abs(pcm[to - 1]) < 200) {
            to--;
        }
        return Arrays.copyOfRange(pcm, from, to);
    }

    private static short[] join(List<short[]> pieces, int gapMs) {
        int gap = gapMs * 16;
        int length = pieces.stream().mapToInt(p -> p.length).sum() + gap * (pieces.size() - 1);
        short[] out = new short[length];
        int at = 0;
        for (short[] p : pieces) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length + gap;
        }
        return out;
    }

    private static int counter;

    private static short[] speak(Path dir, String voice, String text) throws IOException, InterruptedException {
        int i = counter++;
        Path raw = dir.resolve(voice + "-" + i + ".wav");
        Path pcm = dir.resolve(voice + "-" + i + ".raw");
        exec("espeak-ng", "-v", voice, "-w", raw.toString(), text);
        exec("sox", raw.toString(), "-r", "16000", "-c", "1", "-b", "16", "-e", "signed-integer", "-t", "raw", pcm.toString());
        byte[] b = Files.readAllBytes(pcm);
        short[] out = new short[b.length / 2];
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).asShortBuffer().get(out);
        return out;
    }

    private static void exec(String... command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        if (p.waitFor() != 0) {
            throw new IOException(String.join(" ", command) + ": " + out);
        }
    }

    private static String loadAverage() {
        try {
            return Files.readString(Path.of("/proc/loadavg")).trim();
        } catch (IOException e) {
            return "?";
        }
    }
}
