package dev.omnicall.app.bench;

import dev.omnicall.bridge.testing.FreePorts;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The callers of one round: Debian's sipp running {@code bench/sipp/bench_call.xml}, K calls at once, each
 * streaming the same μ-law file with {@code rtp_stream} (the cheapest real caller per call: no codec work,
 * no recording) and hanging up after a fixed time.
 */
final class SippRound {

    private final Path dir;
    private final Process process;

    private SippRound(Path dir, Process process) {
        this.dir = dir;
        this.process = process;
    }

    /**
     * Writes the caller's audio into {@code dir}: leading silence, then each sentence spoken by espeak-ng
     * followed by {@code gapSeconds} of silence (the last by {@code tailSeconds}), as raw 8 kHz μ-law.
     *
     * @return the audio's length in milliseconds
     */
    static long writeAudio(Path dir, List<String> sentences, double gapSeconds, double tailSeconds, Path out)
            throws IOException, InterruptedException {
        List<String> parts = new ArrayList<>();
        for (int i = 0; i < sentences.size(); i++) {
            Path wav = dir.resolve("utterance-" + i + ".wav");
            run(dir, "espeak-ng", "-w", wav.toString(), sentences.get(i));
            Path padded = dir.resolve("utterance-" + i + "-8k.wav");
            double after = i == sentences.size() - 1 ? tailSeconds : gapSeconds;
            run(dir, "sox", wav.toString(), "-r", "8000", "-c", "1", "-b", "16", padded.toString(),
                    "pad", i == 0 ? "0.5" : "0", String.valueOf(after));
            parts.add(padded.toString());
        }
        List<String> cat = new ArrayList<>(List.of("sox"));
        cat.addAll(parts);
        cat.addAll(List.of("-t", "ul", "-r", "8000", "-c", "1", out.toString()));
        run(dir, cat.toArray(String[]::new));
        return Files.size(out) / 8; // 8000 bytes per second
    }

    /**
     * Starts sipp: {@code calls} calls, all at once ({@code -l calls}) at {@code ratePerSecond}, each from
     * {@code sip:<user>-<n>@127.0.0.1}, streaming {@code audio} and hanging up after {@code holdMs}.
     */
    static SippRound start(Path workDir, String sipHost, int sipPort, String user, Path audio, long holdMs, int calls,
                           double ratePerSecond) throws IOException {
        String xml;
        try (InputStream in = SippRound.class.getResourceAsStream("/bench/sipp/bench_call.xml")) {
            if (in == null) {
                throw new IOException("bench/sipp/bench_call.xml is not on the test class path");
            }
            xml = new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
        }
        xml = xml.replace("@USER@", user).replace("@AUDIO@", audio.toAbsolutePath().toString())
                .replace("@HOLD_MS@", Long.toString(holdMs));
        Path dir = Files.createDirectories(workDir.resolve("sipp-" + user));
        Path scenario = dir.resolve("bench_call.xml");
        Files.writeString(scenario, xml, StandardCharsets.ISO_8859_1);
        List<String> cmd = List.of("sipp", sipHost + ":" + sipPort, "-sf", scenario.toString(),
                "-m", Integer.toString(calls), "-l", Integer.toString(calls), "-r", String.valueOf(ratePerSecond),
                "-rp", "1000", "-i", "127.0.0.1", "-p", Integer.toString(FreePorts.udpAndTcp()),
                "-mp", Integer.toString(freeMediaBase(calls)), "-nostdin", "-timeout", (holdMs / 1000 + 120) + "s",
                "-timeout_error", "-trace_err", "-error_file", dir.resolve("errors.log").toString(),
                "-trace_stat", "-stf", dir.resolve("stats.csv").toString(), "-fd", "1");
        // In the foreground (no -bg), so waitFor() means "every call has ended".
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true)
                .redirectOutput(dir.resolve("screen.log").toFile()).start();
        return new SippRound(dir, p);
    }

    ProcessHandle handle() {
        return process.toHandle();
    }

    /** Waits for every call to end; sipp's exit status (0: every call ran its scenario), -1 on timeout. */
    int await(long seconds) throws InterruptedException {
        if (!process.waitFor(seconds, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            process.waitFor(5, TimeUnit.SECONDS);
            return -1;
        }
        return process.exitValue();
    }

    /** The last row of sipp's statistics: SuccessfulCall(C), FailedCall(C), ... */
    Map<String, String> stats() throws IOException {
        Path f = dir.resolve("stats.csv");
        Map<String, String> out = new LinkedHashMap<>();
        if (!Files.exists(f)) {
            return out;
        }
        List<String> lines = Files.readAllLines(f, StandardCharsets.ISO_8859_1);
        if (lines.size() >= 2) {
            String[] names = lines.get(0).split(";");
            String[] values = lines.get(lines.size() - 1).split(";");
            for (int i = 0; i < Math.min(names.length, values.length); i++) {
                out.put(names[i], values[i]);
            }
        }
        return out;
    }

    String errors() throws IOException {
        Path f = dir.resolve("errors.log");
        if (!Files.exists(f)) {
            return "";
        }
        String s = Files.readString(f, StandardCharsets.ISO_8859_1);
        return s.length() > 2000 ? s.substring(s.length() - 2000) : s;
    }

    Path dir() {
        return dir;
    }

    /** An even media port with room for every call's RTP and RTCP ports after it. */
    private static int freeMediaBase(int calls) {
        return FreePorts.rtpRange(Math.max(40, calls * 4 + 8));
    }

    private static void run(Path dir, String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IOException(String.join(" ", cmd) + " failed: " + out);
        }
    }
}
