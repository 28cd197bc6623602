package dev.omnicall.model;

import dev.omnicall.model.omni.OmniModel;
import dev.omnicall.model.omni.TinyCheckpointWriter;
import java.nio.file.Path;
import java.nio.file.Paths;

/** One tiny checkpoint per test JVM, written by the project's own writer, and the model loaded from it. */
public final class TinyModels {
    public static final long SEED = 20240906L;
    private static OmniModel shared;

    private TinyModels() {
    }

    public static Path checkpointDir() {
        return TinyCheckpointWriter.writeIfAbsent(Paths.get("target", "tiny-checkpoint-" + SEED).toAbsolutePath(),
                SEED);
    }

    /** Loaded once with the latency option (input-length log-mel) so tests stay fast. */
    public static synchronized OmniModel model() {
        if (shared == null) {
            shared = OmniModel.load(checkpointDir(), ModelOptions.defaults().withPaddedSeconds(0));
        }
        return shared;
    }

    /** A deterministic test signal: two tones and a little noise, 16 kHz, in [-1, 1]. */
    public static float[] testAudio(double seconds, long seed) {
        java.util.SplittableRandom r = new java.util.SplittableRandom(seed);
        int n = (int) (seconds * 16000);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            double t = i / 16000.0;
            x[i] = (float) (0.3 * Math.sin(2 * Math.PI * 220 * t) + 0.2 * Math.sin(2 * Math.PI * 1375 * t * (1 + t))
                    + 0.02 * r.nextGaussian());
        }
        return x;
    }

    /** A copy of a checkpoint directory (files only; tiny checkpoints are small), for tests that break one. */
    public static Path copyCheckpoint(Path src, Path dst) throws java.io.IOException {
        try (var paths = java.nio.file.Files.walk(src)) {
            for (Path p : paths.toList()) {
                Path target = dst.resolve(src.relativize(p).toString());
                if (java.nio.file.Files.isDirectory(p)) {
                    java.nio.file.Files.createDirectories(target);
                } else {
                    java.nio.file.Files.copy(p, target);
                }
            }
        }
        return dst;
    }
}
