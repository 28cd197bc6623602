package dev.omnicall.app.bench;

import dev.omnicall.bridge.testing.FreePorts;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * The app the benchmark calls: either the packaged jar, started here on free ports with a fresh embedded
 * broker in a scratch directory, or one already running, given its SIP address and Kafka bootstrap.
 */
final class AppUnderTest implements AutoCloseable {

    private final String sipHost;
    private final int sipPort;
    private final String bootstrap;
    private final Process process;
    private final Path log;
    private final List<String> jvmFlags;

    private AppUnderTest(String sipHost, int sipPort, String bootstrap, Process process, Path log, List<String> jvmFlags) {
        this.sipHost = sipHost;
        this.sipPort = sipPort;
        this.bootstrap = bootstrap;
        this.process = process;
        this.log = log;
        this.jvmFlags = jvmFlags;
    }

    /** An app someone else runs: {@code host:port} of its SIP side and its Kafka bootstrap servers. */
    static AppUnderTest attach(String sip, String bootstrap) {
        int colon = sip.lastIndexOf(':');
        if (colon < 0) {
            throw new IllegalArgumentException("bench.sip must be host:port, got " + sip);
        }
        return new AppUnderTest(sip.substring(0, colon), Integer.parseInt(sip.substring(colon + 1)), bootstrap, null, null, List.of());
    }

    /**
     * Starts {@code java -jar jar} in {@code repoRoot} (where the Silero model and bin/ are found), everything
     * it writes under {@code scratch}, and waits until {@code /q/health/ready} answers 200.
     *
     * @param appProperties extra {@code -Dkey=value} settings for the app (model, VAD, ...)
     */
    static AppUnderTest start(Path jar, Path repoRoot, Path scratch, List<String> appProperties, Duration readyTimeout)
            throws IOException, InterruptedException {
        if (!Files.isRegularFile(jar)) {
            throw new IllegalStateException(jar + " does not exist: build it with ./mvnw -q -pl quarkus-app -am package -DskipTests");
        }
        int http = freeTcpPort();
        int kafka = freeTcpPort();
        int sip = FreePorts.udpAndTcp();
        int rtpMin = 30000 + ThreadLocalRandom.current().nextInt(0, 40) * 500;
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Dquarkus.http.port=" + http,
                "-Domnicall.kafka.embedded.port=" + kafka,
                "-Domnicall.kafka.embedded.dir=" + scratch.resolve("kafka"),
                "-Domnicall.streams.state-dir=" + scratch.resolve("streams"),
                "-Domnicall.model.dir=" + scratch.resolve("tiny-model"),
                "-Domnicall.instance-id=bench",
                "-Domnicall.sip.host=127.0.0.1",
                "-Domnicall.sip.port=" + sip,
                "-Domnicall.rtp.port-min=" + rtpMin,
                "-Domnicall.rtp.port-max=" + (rtpMin + 499),
                // The benchmark's callers all come from 127.0.0.1.
                "-Domnicall.sip.invite-rate-per-source=200",
                "-Domnicall.sip.max-calls=500"));
        appProperties.forEach(p -> cmd.add("-D" + p));
        // The JVM flags a user's run gets (bin/omnicall), unless -Dbench.jvm-options=none (the JVM's own defaults)
        List<String> jvmFlags = new ArrayList<>();
        jvmOptionsFile(repoRoot).ifPresent(f -> jvmFlags.add("@" + f));
        // more JVM flags for the app alone (-Dbench.jvm='-XX:TieredStopAtLevel=4'), not for this harness; later wins
        for (String flag : System.getProperty("bench.jvm", "").trim().split("\\s+")) {
            if (!flag.isEmpty()) {
                jvmFlags.add(flag);
            }
        }
        cmd.addAll(jvmFlags);
        cmd.addAll(List.of("-jar", jar.toAbsolutePath().toString()));
        Path log = scratch.resolve("app.log");
        Process p = new ProcessBuilder(cmd).directory(repoRoot.toFile()).redirectErrorStream(true)
                .redirectOutput(log.toFile()).start();
        AppUnderTest app = new AppUnderTest("127.0.0.1", sip, "127.0.0.1:" + kafka, p, log, List.copyOf(jvmFlags));
        HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
        HttpRequest ready = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + http + "/q/health/ready"))
                .timeout(Duration.ofSeconds(5)).build();
        long deadline = System.nanoTime() + readyTimeout.toNanos();
        while (System.nanoTime() < deadline) {
            if (!p.isAlive()) {
                throw new IllegalStateException("the app exited with " + p.exitValue() + " during start-up; log: " + log
                        + "\n" + app.logTail(2000));
            }
            try {
                if (client.send(ready, HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
                    return app;
                }
            } catch (IOException notYet) {
                // HTTP not up yet
            }
            Thread.sleep(500);
        }
        app.close();
        throw new IllegalStateException("the app was not ready after " + readyTimeout.toSeconds() + " s; log: " + log);
    }

    /**
     * {@code quarkus-app/jvm.options}, the file bin/omnicall hands to java; another file with
     * {@code -Dbench.jvm-options=<path>}, none with {@code -Dbench.jvm-options=none}.
     */
    static Optional<Path> jvmOptionsFile(Path repoRoot) {
        String setting = System.getProperty("bench.jvm-options", "").trim();
        if (setting.equals("none")) {
            return Optional.empty();
        }
        Path file = setting.isEmpty() ? repoRoot.resolve("quarkus-app/jvm.options") : Path.of(setting);
        if (!Files.isRegularFile(file)) {
            throw new IllegalStateException("no JVM options file " + file + " (bench.jvm-options=none starts the app without one)");
        }
        return Optional.of(file.toAbsolutePath());
    }

    String sipHost() {
        return sipHost;
    }

    int sipPort() {
        return sipPort;
    }

    String bootstrap() {
        return bootstrap;
    }

    /** The app's process when this harness started it. */
    Optional<ProcessHandle> process() {
        return Optional.ofNullable(process).map(Process::toHandle);
    }

    String describe() {
        return process == null ? "running app at sip " + sipHost + ":" + sipPort + ", kafka " + bootstrap
                : "packaged app started here (pid " + process.pid() + ", sip " + sipHost + ":" + sipPort + ", kafka "
                + bootstrap + ", JVM flags " + (jvmFlags.isEmpty() ? "none" : String.join(" ", jvmFlags)) + ", log " + log + ")";
    }

    String logTail(int chars) {
        try {
            String s = log == null ? "" : Files.readString(log);
            return s.length() > chars ? s.substring(s.length() - chars) : s;
        } catch (IOException e) {
            return "(log unreadable: " + e.getMessage() + ")";
        }
    }

    /** SIGTERM (the app's orderly shutdown), then kill after 30 s. */
    @Override
    public void close() throws InterruptedException {
        if (process == null) {
            return;
        }
        process.destroy();
        if (!process.waitFor(30, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            process.waitFor(10, TimeUnit.SECONDS);
        }
    }

    static int freeTcpPort() throws IOException {
        try (ServerSocket s = new ServerSocket()) {
            s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            return s.getLocalPort();
        }
    }

}
