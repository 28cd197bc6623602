package dev.omnicall.bridge.bench;

import dev.omnicall.bridge.media.SegmenterConfig;
import dev.omnicall.bridge.media.Segment;
import dev.omnicall.bridge.media.UtteranceSegmenter;
import dev.omnicall.bridge.vad.Vad;
import dev.omnicall.bridge.vad.VadFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * How the end-of-turn rule cuts test speech, offline: each held-out question of {@code demo-model/intents.json} in
 * each test voice, by espeak-ng, 16 kHz, through the bridge's VAD (Silero, else energy) and {@link UtteranceSegmenter}
 * with the given end-of-turn silence and speculative silence. Prints per setting the questions cut into more than one
 * utterance (a caller cut off), and with speculation the speculative turns started, confirmed and cancelled (the share
 * of model starts wasted on that speech). The baseline for issue 15's adaptive end-of-turn wait ("count utterances split
 * in two, before/after"). Ends with a {@code key=value} line.
 *
 * <pre>
 * java -cp telephony-bridge/target/test-classes:telephony-bridge/target/classes:$(cat cp.txt) \
 *     dev.omnicall.bridge.bench.EndOfTurnSplitBench [end-silence-ms,...] [speculative-ms]
 * </pre>
 */
public final class EndOfTurnSplitBench {

    private EndOfTurnSplitBench() {
    }

    public static void main(String[] args) throws Exception {
        int[] endSilences = java.util.Arrays.stream((args.length > 0 ? args[0] : "300,400,500").split(","))
                .mapToInt(Integer::parseInt).toArray();
        int speculative = args.length > 1 ? Integer.parseInt(args[1]) : 200;
        Path root = Path.of("").toAbsolutePath();
        String intents = Files.readString(root.resolve("demo-model/intents.json"));
        List<String> questions = testQuestions(intents);
        String[] voices = {"en-us-nyc", "en-gb-x-gbclan"};
        Path dir = Files.createTempDirectory("eot-split");
        VadFactory vads = VadFactory.create();
        List<short[]> audio = new ArrayList<>();
        for (String voice : voices) {
            for (int i = 0; i < questions.size(); i++) {
                audio.add(speak(dir, voice, i, questions.get(i)));
            }
        }
        String vadName;
        try (Vad probe = vads.newVad()) {
            vadName = probe.name();
        }
        System.out.printf(Locale.ROOT, "end-of-turn split bench: %d questions x %d test voices (espeak-ng, 16 kHz), VAD %s,"
                + " load average %s%n", questions.size(), voices.length, vadName, loadAverage());
        StringBuilder keys = new StringBuilder("bench=eot-split vad=" + vadName + " utterances=" + audio.size());
        for (int end : endSilences) {
            for (int spec : new int[] {0, speculative}) {
                if (spec >= end) {
                    continue;
                }
                int split = 0;
                int started = 0;
                int cancelled = 0;
                for (short[] pcm : audio) {
                    int[] r = run(vads, pcm, SegmenterConfig.defaults().withEndOfUtteranceSilenceMs(end)
                            .withSpeculativeSilenceMs(spec));
                    split += r[0] > 1 ? 1 : 0;
                    started += r[1];
                    cancelled += r[2];
                }
                System.out.printf(Locale.ROOT, "end silence %d ms, speculative %s: %d of %d questions cut in two or more;"
                                + " speculative turns %d, cancelled %d (%.0f %%)%n", end, spec == 0 ? "off" : spec + " ms",
                        split, audio.size(), started, cancelled, started == 0 ? 0.0 : 100.0 * cancelled / started);
                String p = " end" + end + (spec == 0 ? "" : "_spec" + spec);
                keys.append(p).append("_split=").append(split);
                if (spec > 0) {
                    keys.append(p).append("_cancelled=").append(cancelled).append(p).append("_speculative=").append(started);
                }
            }
        }
        System.out.println(keys);
    }

    /** Utterances finally requested (not replaced), speculative turns started, and cancelled, for one question. */
    private static int[] run(VadFactory vads, short[] pcm, SegmenterConfig config) {
        int[] counts = new int[3];
        long[] clock = {1_700_000_000_000_000L};
        java.util.Set<Integer> cancelled = new java.util.HashSet<>();
        List<Segment> ends = new ArrayList<>();
        UtteranceSegmenter s = new UtteranceSegmenter(config, () -> clock[0], seg -> {
            if (seg.endOfUtterance()) {
                ends.add(seg);
            }
        }, new UtteranceSegmenter.SpeculationListener() {
            @Override
            public void cancelled(int turnId, long tentativeEndUs, long cancelledUs) {
                cancelled.add(turnId);
            }
        });
        try (Vad vad = vads.newVad()) {
            short[] padded = new short[pcm.length + 16_000 * 2]; // two seconds of silence after: every end is decided
            System.arraycopy(pcm, 0, padded, 8_000, pcm.length);
            for (int at = 0; at + Vad.FRAME_SAMPLES <= padded.length; at += Vad.FRAME_SAMPLES) {
                short[] frame = java.util.Arrays.copyOfRange(padded, at, at + Vad.FRAME_SAMPLES);
                clock[0] += Vad.FRAME_MICROS;
                s.accept(frame, vad.speechProbability(frame), clock[0] - Vad.FRAME_MICROS);
            }
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
        for (Segment end : ends) {
            if (end.speculative()) {
                counts[1]++;
            }
            if (!cancelled.contains(end.utteranceId())) {
                counts[0]++;
            }
        }
        counts[2] = cancelled.size();
        return counts;
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

    private static short[] speak(Path dir, String voice, int i, String text) throws IOException, InterruptedException {
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
