package dev.omnicall.reliability.support;

import dev.omnicall.bridge.testing.FreePorts;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The real sipp (Debian sip-tester) running a scenario of {@code src/test/resources/reliability/sipp} with
 * {@code @NAME@} placeholders replaced, against a bridge on 127.0.0.1.
 */
public final class SippCaller {

    private final Path dir;
    private final Process process;

    private SippCaller(Path dir, Process process) {
        this.dir = dir;
        this.process = process;
    }

    /**
     * Starts sipp. {@code calls} calls at {@code ratePerSecond}, at most {@code parallel} at once.
     */
    public static SippCaller start(Path workDir, String scenario, Map<String, String> placeholders, int sipPort,
                                   int calls, double ratePerSecond, int parallel, String... extra) throws IOException {
        String xml;
        try (InputStream in = SippCaller.class.getResourceAsStream("/reliability/sipp/" + scenario)) {
            if (in == null) {
                throw new IOException("no scenario /reliability/sipp/" + scenario + " on the test class path");
            }
            xml = new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
        }
        for (Map.Entry<String, String> e : placeholders.entrySet()) {
            xml = xml.replace("@" + e.getKey() + "@", e.getValue());
        }
        if (xml.matches("(?s).*@[A-Z_]+@.*")) {
            throw new IllegalArgumentException("scenario " + scenario + " still has placeholders");
        }
        Path dir = Files.createTempDirectory(workDir, "sipp-");
        Path file = dir.resolve(scenario);
        Files.writeString(file, xml, StandardCharsets.ISO_8859_1);
        List<String> cmd = new ArrayList<>(List.of("sipp", "127.0.0.1:" + sipPort, "-sf", file.toString(),
                "-m", Integer.toString(calls), "-l", Integer.toString(parallel), "-r", String.valueOf(ratePerSecond),
                "-rp", "1000", "-i", "127.0.0.1", "-p", Integer.toString(FreePorts.udpAndTcp()),
                "-mp", Integer.toString(FreePorts.rtpRange(40)), "-nostdin", "-timeout", "120s", "-timeout_error",
                "-trace_err", "-error_file", dir.resolve("errors.log").toString(),
                "-trace_stat", "-stf", dir.resolve("stats.csv").toString(), "-fd", "1"));
        cmd.addAll(List.of(extra));
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true)
                .redirectOutput(dir.resolve("screen.log").toFile()).start();
        return new SippCaller(dir, p);
    }

    /** Waits for sipp to finish; returns its exit code (0: every call passed its scenario), -999 on timeout. */
    public int await(long seconds) throws InterruptedException {
        if (!process.waitFor(seconds, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            process.waitFor(5, TimeUnit.SECONDS);
            return -999;
        }
        return process.exitValue();
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    /** sipp's error log (unexpected messages, timeouts). */
    public String errors() throws IOException {
        Path f = dir.resolve("errors.log");
        if (!Files.exists(f)) {
            return "";
        }
        String s = Files.readString(f, StandardCharsets.ISO_8859_1);
        return s.length() > 4000 ? s.substring(s.length() - 4000) : s;
    }

    /** The last row of sipp's statistics file as name → value (SuccessfulCall(C), FailedCall(C), ...). */
    public Map<String, String> lastStats() throws IOException {
        Path f = dir.resolve("stats.csv");
        if (!Files.exists(f)) {
            return Map.of();
        }
        List<String> lines = Files.readAllLines(f, StandardCharsets.ISO_8859_1);
        if (lines.size() < 2) {
            return Map.of();
        }
        String[] names = lines.get(0).split(";");
        String[] values = lines.get(lines.size() - 1).split(";");
        Map<String, String> out = new java.util.LinkedHashMap<>();
        for (int i = 0; i < Math.min(names.length, values.length); i++) {
            out.put(names[i], values[i]);
        }
        return out;
    }

    public Path dir() {
        return dir;
    }

    public void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(5, TimeUnit.SECONDS);
    }
}
