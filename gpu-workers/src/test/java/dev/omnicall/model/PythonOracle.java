package dev.omnicall.model;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Debian's PyTorch 1.13 (/usr/bin/python3) as an independent oracle. Tests that need it skip when
 * it is not installed.
 */
public final class PythonOracle {
    private static final Path PYTHON = Path.of("/usr/bin/python3");
    private static Boolean available;

    private PythonOracle() {
    }

    public static synchronized boolean torchAvailable() {
        if (available == null) {
            try {
                Process p = new ProcessBuilder(PYTHON.toString(), "-c", "import torch, torchaudio").redirectErrorStream(true)
                        .start();
                available = p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0;
            } catch (IOException e) {
                available = false;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                available = false;
            }
        }
        return available;
    }

    /** Runs the script at a classpath {@code resource} (e.g. {@code /oracle/omni2/hift.py}) with arguments. */
    public static String runResource(String resource, String... args) throws IOException, InterruptedException {
        try (InputStream s = PythonOracle.class.getResourceAsStream(resource)) {
            if (s == null) {
                throw new IllegalStateException("no oracle script " + resource + " on the test classpath");
            }
            return run(new String(s.readAllBytes(), StandardCharsets.UTF_8), args);
        }
    }

    /** Runs a script with arguments; fails with its output when it exits non-zero. */
    public static String run(String script, String... args) throws IOException, InterruptedException {
        Path file = Files.createTempFile("oracle", ".py");
        Files.writeString(file, script);
        List<String> cmd = new ArrayList<>(List.of(PYTHON.toString(), file.toString()));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(120, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IllegalStateException("oracle script failed:\n" + out);
        }
        Files.deleteIfExists(file);
        return out;
    }
}
