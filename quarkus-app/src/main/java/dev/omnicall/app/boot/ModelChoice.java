package dev.omnicall.app.boot;

import dev.omnicall.model.ModelFamily;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Which checkpoint the worker loads, and how long its encoder input is, decided once at start-up:
 *
 * <ul>
 *   <li>{@code omnicall.model.dir} set: that directory ({@link Source#CONFIGURED}); the boot sequence writes the
 *       tiny checkpoint of {@link #family()} there only when it is empty and
 *       {@code omnicall.model.write-tiny-if-missing} allows it;</li>
 *   <li>not set, the family LLaMA-Omni (as when {@code omnicall.model.family} is unset), and the working directory
 *       holds the project's demo model ({@value #DEMO_DIR}/config.json, as it does when the README's run command is
 *       typed in the repository root): the demo model ({@link Source#DEMO}). It answers most held-out questions right
 *       (demo-model/README.md has its figures), which is what a newcomer should hear rather than random-weight noise;
 *       whether it passes the end-to-end test ({@code DemoCallIT}, gated by the checkpoint's {@code READY} file) does
 *       not change which model the zero-setup run loads;</li>
 *   <li>not set and no demo model there: the tiny random LLaMA-Omni checkpoint in {@value #TINY_DIR}, written on
 *       first start ({@link Source#TINY});</li>
 *   <li>not set and {@code omnicall.model.family=llama-omni2}: the tiny random LLaMA-Omni2 checkpoint in
 *       {@value #TINY_OMNI2_DIR}, written on first start ({@link Source#TINY}; the demo model is a LLaMA-Omni one and
 *       is passed over).</li>
 * </ul>
 *
 * {@code omnicall.model.encoder-padded-seconds} wins when set. Unset, the demo model gets 0 (it was trained on
 * utterances at their natural length; padding them to 30 s would feed it silence it never saw, and cost latency),
 * and every other checkpoint gets 30, the reference Whisper behaviour of the published model.
 *
 * @param dir                  the checkpoint directory, absolute
 * @param source               why this directory
 * @param family               the family of the tiny checkpoint the boot sequence writes when it writes one:
 *                             {@code omnicall.model.family}, LLaMA-Omni when unset (a checkpoint already there
 *                             names its own family in config.json)
 * @param encoderPaddedSeconds log-mel input length for the worker (0: the audio's own length)
 */
public record ModelChoice(Path dir, Source source, ModelFamily family, double encoderPaddedSeconds) {

    /** The demo model's directory, relative to the repository root. */
    public static final String DEMO_DIR = "demo-model/checkpoint";
    /** Where the zero-setup run writes the tiny random checkpoint when there is no demo model. */
    public static final String TINY_DIR = ".omnicall/tiny-model";
    /** Where the zero-setup run writes the tiny random LLaMA-Omni2 checkpoint ({@code omnicall.model.family=llama-omni2}). */
    public static final String TINY_OMNI2_DIR = ".omnicall/tiny-omni2";
    /** The published model's (and Whisper's) input length: every utterance padded to 30 s. */
    public static final double REFERENCE_PADDED_SECONDS = 30;

    public enum Source {
        /** {@code omnicall.model.dir} names it. */
        CONFIGURED,
        /** The project's trained demo model, found in the working directory. */
        DEMO,
        /** The tiny random-weight checkpoint of the family (LLaMA-Omni: the demo model is absent). */
        TINY
    }

    /** {@link #resolve(Optional, Optional, Optional, Path)} with no family configured (LLaMA-Omni). */
    public static ModelChoice resolve(Optional<Path> configuredDir, Optional<Double> configuredPadded, Path workingDir) {
        return resolve(configuredDir, configuredPadded, Optional.empty(), workingDir);
    }

    /**
     * @param configuredDir    {@code omnicall.model.dir}
     * @param configuredPadded {@code omnicall.model.encoder-padded-seconds}
     * @param configuredFamily {@code omnicall.model.family}
     * @param workingDir       where relative paths start (the process's working directory)
     */
    public static ModelChoice resolve(Optional<Path> configuredDir, Optional<Double> configuredPadded,
            Optional<ModelFamily> configuredFamily, Path workingDir) {
        ModelFamily family = configuredFamily.orElse(ModelFamily.LLAMA_OMNI);
        Path demo = workingDir.resolve(DEMO_DIR).toAbsolutePath().normalize();
        Path dir;
        Source source;
        if (configuredDir.isPresent()) {
            dir = workingDir.resolve(configuredDir.get()).toAbsolutePath().normalize();
            source = Source.CONFIGURED;
        } else if (family == ModelFamily.LLAMA_OMNI && isCheckpoint(demo)) {
            dir = demo;
            source = Source.DEMO;
        } else {
            dir = workingDir.resolve(family == ModelFamily.LLAMA_OMNI ? TINY_DIR : TINY_OMNI2_DIR).toAbsolutePath()
                    .normalize();
            source = Source.TINY;
        }
        double padded = configuredPadded.orElseGet(() -> source == Source.DEMO || sameFile(dir, demo)
                ? 0 : REFERENCE_PADDED_SECONDS);
        return new ModelChoice(dir, source, family, padded);
    }

    /** The demo model's directory that {@link #resolve} looks for. */
    public static Path demoDir(Path workingDir) {
        return workingDir.resolve(DEMO_DIR).toAbsolutePath().normalize();
    }

    /** A directory holding a checkpoint's {@code config.json}. */
    static boolean isCheckpoint(Path dir) {
        return Files.isRegularFile(dir.resolve("config.json"));
    }

    /** Whether this is the demo model, chosen by default or named in {@code omnicall.model.dir}. */
    public boolean isDemoModel(Path workingDir) {
        return source == Source.DEMO || sameFile(dir, demoDir(workingDir));
    }

    /** The start-up log line that says which model answers the calls and why. */
    public String describe(Path workingDir) {
        String input = encoderPaddedSeconds == 0 ? "encoder input at its natural length (encoder-padded-seconds 0)"
                : "encoder input padded to " + fmt(encoderPaddedSeconds) + " s";
        return switch (source) {
            case CONFIGURED -> "omnicall.model.dir=" + dir + (isDemoModel(workingDir) ? " (the demo model)" : "") + ", " + input;
            case DEMO -> "no omnicall.model.dir set: using the demo model in " + dir + " (trained by the project on"
                    + " synthetic call-center speech: 12 intents, see demo-model/README.md), " + input;
            case TINY -> family == ModelFamily.LLAMA_OMNI
                    ? "no omnicall.model.dir set and no demo model at " + demoDir(workingDir) + " (start from the"
                    + " repository root to use it): the TINY RANDOM checkpoint in " + dir + " (replies will be noise), "
                    + input
                    : "no omnicall.model.dir set, omnicall.model.family=" + familyKey(family) + ": the TINY RANDOM"
                    + " LLaMA-Omni2 checkpoint in " + dir + " (replies are three random letters and noise at 24 kHz), "
                    + input;
        };
    }

    /** The value {@code omnicall.model.family} takes for a family: {@code llama-omni}, {@code llama-omni2}. */
    public static String familyKey(ModelFamily family) {
        return family.name().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
    }

    private static boolean sameFile(Path a, Path b) {
        try {
            return Files.exists(a) && Files.exists(b) && Files.isSameFile(a, b);
        } catch (IOException e) {
            return false;
        }
    }

    private static String fmt(double seconds) {
        return seconds == Math.rint(seconds) ? Long.toString((long) seconds) : Double.toString(seconds);
    }
}
