package dev.omnicall.reliability.support;

import dev.omnicall.reliability.proc.LoggedMain;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * A role's main class in its own JVM with the test class path, its stdout and stderr captured line by line
 * (kept in memory and written to a log file), so a test can wait for a READY line, kill it with SIGKILL and
 * read what it logged.
 */
public final class ChildJvm implements AutoCloseable {

    private final String name;
    private final Process process;
    private final List<String> lines = new CopyOnWriteArrayList<>();
    private final Path logFile;

    private ChildJvm(String name, Process process, Path logFile) {
        this.name = name;
        this.process = process;
        this.logFile = logFile;
    }

    /**
     * Starts {@code mainClass} with {@code args}; {@code jvmArgs} go before the class name. Logging goes to
     * stdout through {@link LoggedMain}.
     */
    public static ChildJvm start(String name, Class<?> mainClass, List<String> jvmArgs, List<String> args, Path logDir)
            throws IOException {
        Path java = Paths.get(System.getProperty("java.home"), "bin", "java");
        List<String> cmd = new ArrayList<>(List.of(java.toString(), "-Xmx768m", "-XX:+UseSerialGC",
                "-Djava.util.logging.manager=org.jboss.logmanager.LogManager",
                "-Dai.djl.offline=true", "-Dai.djl.pytorch.num_threads=1", "-Dai.djl.pytorch.num_interop_threads=1"));
        cmd.addAll(jvmArgs);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), LoggedMain.class.getName(), mainClass.getName()));
        cmd.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("OMP_NUM_THREADS", "1");
        Files.createDirectories(logDir);
        Path log = logDir.resolve(name + ".log");
        Process p = pb.start();
        ChildJvm child = new ChildJvm(name, p, log);
        Thread pump = new Thread(child::pump, "pump-" + name);
        pump.setDaemon(true);
        pump.start();
        return child;
    }

    private void pump() {
        try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
             PrintWriter out = new PrintWriter(Files.newBufferedWriter(logFile, StandardCharsets.UTF_8), true)) {
            for (String line; (line = r.readLine()) != null; ) {
                lines.add(line);
                out.println(line);
                if (line.contains(" ERROR ") || line.startsWith("READY") || line.contains("Exception in thread")) {
                    System.out.println("[" + name + "] " + line);
                }
            }
        } catch (IOException e) {
            // the process died
        }
    }

    /** Waits for a line matching {@code p}; fails with the last lines of output when the child dies or times out. */
    public String awaitLine(Predicate<String> p, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            for (String l : lines) {
                if (p.test(l)) {
                    return l;
                }
            }
            if (!process.isAlive()) {
                Waits.sleep(200);
                throw new AssertionError(name + " exited with " + process.exitValue() + " before the line came:\n" + tail(40));
            }
            Waits.sleep(20);
        }
        throw new AssertionError(name + " did not print the line within " + timeout.toSeconds() + " s:\n" + tail(40));
    }

    public List<String> lines() {
        return List.copyOf(lines);
    }

    public String output() {
        return String.join("\n", lines);
    }

    public String tail(int n) {
        List<String> l = lines();
        return String.join("\n", l.subList(Math.max(0, l.size() - n), l.size()));
    }

    @Override
    public String toString() {
        return name;
    }

    public long pid() {
        return process.pid();
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    /** SIGKILL: no shutdown hook, no commit, no close. Returns when the process is gone. */
    public void kill9() throws InterruptedException {
        process.destroyForcibly();
        if (!process.waitFor(20, TimeUnit.SECONDS)) {
            throw new AssertionError(name + " survived SIGKILL for 20 s");
        }
    }

    /** SIGTERM: shutdown hooks run. */
    public int stop(Duration timeout) throws InterruptedException {
        process.destroy();
        if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            kill9();
        }
        return process.exitValue();
    }

    @Override
    public void close() {
        if (process.isAlive()) {
            process.destroyForcibly();
            try {
                process.waitFor(20, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
