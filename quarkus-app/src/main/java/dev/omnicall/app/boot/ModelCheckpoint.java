package dev.omnicall.app.boot;

import dev.omnicall.model.ModelFamily;
import dev.omnicall.model.omni.TinyCheckpointWriter;
import dev.omnicall.model.omni2.TinyOmni2Writer;
import org.jboss.logging.Logger;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * The boot sequence's checkpoint step: makes sure {@link ModelChoice#dir()} holds a checkpoint before the worker
 * loads it. A checkpoint there is used as it is (a tiny one of an older writer's format is rewritten); none there
 * gets the tiny random checkpoint of the choice's family when {@code omnicall.model.write-tiny-if-missing} allows it,
 * else the start stops. With {@code omnicall.model.family} set, a checkpoint of the other family (config.json
 * {@code model_type}) stops the start too, naming both, rather than serving what the operator did not ask for.
 */
public final class ModelCheckpoint {

    private static final Logger LOG = Logger.getLogger(ModelCheckpoint.class);

    /** Seed of the zero-setup run's tiny checkpoints: the same weights on every machine. */
    public static final long TINY_SEED = 20240906L;
    /** Written by TinyCheckpointWriter beside a complete tiny LLaMA-Omni checkpoint. */
    static final String TINY_MARKER = ".tiny-checkpoint-complete";
    /** Written by TinyOmni2Writer beside a complete tiny LLaMA-Omni2 checkpoint. */
    static final String TINY_OMNI2_MARKER = ".tiny-omni2-complete";

    private ModelCheckpoint() {
    }

    /**
     * Prepares the chosen directory; returns what the step did, for the boot log.
     *
     * @param choice             the boot's model choice
     * @param configuredFamily   {@code omnicall.model.family}
     * @param writeTinyIfMissing {@code omnicall.model.write-tiny-if-missing}
     * @param workingDir         the process's working directory (for the log lines)
     * @throws IllegalStateException when there is no checkpoint and none may be written, or the checkpoint is of
     *                               another family than the configured one
     */
    public static String prepare(ModelChoice choice, Optional<ModelFamily> configuredFamily, boolean writeTinyIfMissing,
            Path workingDir) throws IOException {
        Path dir = choice.dir();
        String why = choice.describe(workingDir);
        if (choice.source() == ModelChoice.Source.TINY) {
            LOG.warn("[checkpoint] " + why);
        } else {
            LOG.info("[checkpoint] " + why);
        }
        if (Files.isRegularFile(dir.resolve("config.json"))) {
            requireFamily(dir, configuredFamily);
            boolean tiny = Files.exists(dir.resolve(TINY_MARKER)) || Files.exists(dir.resolve(TINY_OMNI2_MARKER));
            if (tiny && writeTinyIfMissing) {
                // A tiny checkpoint from an older writer (e.g. before it had a Whisper decoder, or before the tiny TTS
                // LM wrote its end token) is replaced; a current one is left as it is.
                String marker = Files.exists(dir.resolve(TINY_MARKER)) ? TINY_MARKER : TINY_OMNI2_MARKER;
                String before = Files.readString(dir.resolve(marker));
                writeTiny(dir, marker.equals(TINY_MARKER) ? ModelFamily.LLAMA_OMNI : ModelFamily.LLAMA_OMNI2);
                if (!before.equals(Files.readString(dir.resolve(marker)))) {
                    return "rewrote the tiny checkpoint in " + dir + " (it was written by an older version)";
                }
            }
            return (choice.source() == ModelChoice.Source.DEMO ? "the demo model in " : "reusing the checkpoint in ")
                    + dir + (tiny ? " (tiny, random weights)" : "");
        }
        if (!writeTinyIfMissing) {
            throw new IllegalStateException((choice.source() == ModelChoice.Source.CONFIGURED ? "omnicall.model.dir=" + dir
                    : "omnicall.model.dir is not set, there is no demo model at " + ModelChoice.demoDir(workingDir) + ", and " + dir)
                    + " holds no checkpoint (no config.json) and omnicall.model.write-tiny-if-missing=false: mount the model there");
        }
        LOG.warnf("[checkpoint] %s holds no checkpoint: writing the TINY RANDOM %s one (replies will be noise;"
                + " set omnicall.model.dir to a real checkpoint for speech)", dir, name(choice.family()));
        writeTiny(dir, choice.family());
        return "wrote the tiny " + name(choice.family()) + " checkpoint to " + dir;
    }

    /** A configured family must be the checkpoint's; unset, the checkpoint's config.json decides alone. */
    private static void requireFamily(Path dir, Optional<ModelFamily> configuredFamily) {
        if (configuredFamily.isEmpty()) {
            return;
        }
        ModelFamily found = ModelFamily.of(dir);
        if (found != configuredFamily.get()) {
            throw new IllegalStateException("omnicall.model.family=" + ModelChoice.familyKey(configuredFamily.get())
                    + " but " + dir.resolve("config.json") + " has " + ModelFamily.FIELD + " '" + found.modelType()
                    + "' (" + name(found) + "): set omnicall.model.family=" + ModelChoice.familyKey(found)
                    + ", leave it unset, or point omnicall.model.dir at a " + name(configuredFamily.get()) + " checkpoint");
        }
    }

    private static void writeTiny(Path dir, ModelFamily family) throws IOException {
        if (family == ModelFamily.LLAMA_OMNI) {
            TinyCheckpointWriter.writeIfAbsent(dir, TINY_SEED);
            return;
        }
        // TinyOmni2Writer moves a complete staging directory into place and refuses an existing one without its
        // marker; an empty directory (one made for the model, say) holds nothing to keep
        if (Files.isDirectory(dir) && !Files.exists(dir.resolve(TINY_OMNI2_MARKER))) {
            try (Stream<Path> entries = Files.list(dir)) {
                if (entries.findAny().isEmpty()) {
                    Files.delete(dir);
                }
            }
        }
        TinyOmni2Writer.writeIfAbsent(dir, TINY_SEED);
    }

    private static String name(ModelFamily family) {
        return family == ModelFamily.LLAMA_OMNI ? "LLaMA-Omni" : "LLaMA-Omni2";
    }
}
