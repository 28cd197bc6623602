package dev.omnicall.bridge.vad;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Path;
import java.util.Optional;

/** The Silero model for the VAD tests: loaded from the build's copy, or the test class is skipped with the reason. */
final class SileroTestModel {
    private SileroTestModel() {
    }

    /** Loads silero_vad.onnx as the build fetched it; skips the calling test class when npm could not fetch it. */
    static SileroModel loadOrSkip() throws Exception {
        Optional<Path> path = VadFactory.locateModel();
        assumeTrue(path.isPresent(), "silero_vad.onnx not fetched by the build (npm unavailable)");
        return SileroModel.load(path.get());
    }

    static void close(SileroModel model) {
        if (model != null) {
            model.close();
        }
    }
}
