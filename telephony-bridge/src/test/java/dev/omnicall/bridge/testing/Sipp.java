package dev.omnicall.bridge.testing;

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
 * Runs the real sipp (Debian sip-tester) with a scenario from {@code src/test/resources/sipp}, with
 * {@code @NAME@} placeholders replaced, against a bridge on 127.0.0.1.
 */
public final class Sipp {

    /** The outcome: sipp's exit code (0 = every call passed its scenario) and its logs for messages. */
    public record Result(int exitCode, String log) {
        public boolean passed() {
            return exitCode == 0;
        }
    }

    private final Path workDir;
    private final String scenario;
    private final Map<String, String> placeholders;
    private final List<String> extraArgs = new ArrayList<>();

    public Sipp(Path workDir, String scenario, Map<String, String> placeholders) {
        this.workDir = workDir;
        this.scenario = scenario;
        this.placeholders = placeholders;
    }

    public Sipp args(String... args) {
        extraArgs.addAll(List.of(args));
        return this;
    }

    /** Starts sipp; {@link Running#await} collects the result. */
    public Running start(int bridgePort) throws IOException {
        String xml;
        try (InputStream in = Sipp.class.getResourceAsStream("/sipp/" + scenario)) {
            if (in == null) {
                throw new IOException("no scenario /sipp/" + scenario + " on the test classpath");
            }
            xml = new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
        }
        for (Map.Entry<String, String> e : placeholders.entrySet()) {
            xml = xml.replace("@" + e.getKey() + "@", e.getValue());
        }
        if (xml.matches("(?s).*@[A-Z_]+@.*")) {
            throw new IllegalArgumentException("scenario " + scenario + " still has placeholders: " + xml);
        }
        Path dir = Files.createTempDirectory(workDir, "sipp-");
        Path file = dir.resolve(scenario);
        Files.writeString(file, xml, StandardCharsets.ISO_8859_1);
        List<String> cmd = new ArrayList<>(List.of("sipp", "127.0.0.1:" + bridgePort, "-sf", file.toString(),
                "-m", "1", "-l", "1", "-i", "127.0.0.1", "-p", Integer.toString(FreePorts.udpAndTcp()),
                "-mp", Integer.toString(FreePorts.rtpPair()), "-nostdin", "-timeout", "40s", "-timeout_error",
                "-trace_err", "-error_file", dir.resolve("errors.log").toString(),
                "-trace_msg", "-message_file", dir.resolve("messages.log").toString()));
        cmd.addAll(extraArgs);
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true)
                .redirectOutput(dir.resolve("screen.log").toFile()).start();
        return new Running(p, dir);
    }

    public Result run(int bridgePort, long timeoutSeconds) throws IOException, InterruptedException {
        return start(bridgePort).await(timeoutSeconds);
    }

    public static final class Running {
        private final Process process;
        private final Path dir;

        Running(Process process, Path dir) {
            this.process = process;
            this.dir = dir;
        }

        public Path dir() {
            return dir;
        }

        public Result await(long timeoutSeconds) throws IOException, InterruptedException {
            if (!process.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor(5, TimeUnit.SECONDS);
                return new Result(-999, "sipp did not finish in " + timeoutSeconds + " s\n" + logs());
            }
            return new Result(process.exitValue(), logs());
        }

        /** Whether sipp still runs, else its exit status, and its screen, error and message logs: for a failed wait. */
        public String diagnostics() throws IOException {
            StringBuilder sb = new StringBuilder(process.isAlive() ? "sipp still running\n"
                    : "sipp exited with " + process.exitValue() + "\n");
            Path screen = dir.resolve("screen.log");
            if (Files.exists(screen)) {
                String text = Files.readString(screen, StandardCharsets.ISO_8859_1);
                sb.append("---- screen.log\n").append(text.length() > 3000 ? text.substring(text.length() - 3000) : text);
            }
            return sb.append(logs()).toString();
        }

        /** The messages sipp sent and received. */
        public String messages() throws IOException {
            Path m = dir.resolve("messages.log");
            return Files.exists(m) ? Files.readString(m, StandardCharsets.ISO_8859_1) : "";
        }

        private String logs() throws IOException {
            StringBuilder sb = new StringBuilder();
            for (String name : List.of("errors.log", "messages.log")) {
                Path f = dir.resolve(name);
                if (Files.exists(f)) {
                    String text = Files.readString(f, StandardCharsets.ISO_8859_1);
                    sb.append("---- ").append(name).append('\n')
                            .append(text.length() > 6000 ? text.substring(text.length() - 6000) : text);
                }
            }
            return sb.toString();
        }
    }
}
