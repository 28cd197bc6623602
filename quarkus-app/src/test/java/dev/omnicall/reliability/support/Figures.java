package dev.omnicall.reliability.support;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardOpenOption;
import java.time.Instant;

/**
 * Prints a test's figures and appends its closing {@code key=value} line to
 * {@code target/reliability/figures.txt}, where the README table's numbers come from.
 */
public final class Figures {

    private static final Path FILE = Paths.get("target", "reliability", "figures.txt");

    private Figures() {
    }

    public static void note(String format, Object... args) {
        System.out.printf(format + "%n", args);
    }

    /** The one closing line of a test: {@code test=<name> key=value ...}. */
    public static synchronized void line(String format, Object... args) {
        String line = String.format(format, args);
        System.out.println(line);
        try {
            Files.createDirectories(FILE.getParent());
            Files.writeString(FILE, Instant.now() + " " + line + System.lineSeparator(), StandardCharsets.UTF_8,
                    StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            System.out.println("could not append to " + FILE + ": " + e);
        }
    }
}
