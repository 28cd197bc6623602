package dev.omnicall.bridge.vad;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class VadFactoryTest {

    @Test
    void shouldFallBackToEnergyVadWhenModelIsAbsent() {
        try (VadFactory factory = VadFactory.create(Optional.empty())) {
            assertThat(factory.usesSilero()).isFalse();
            assertThat(factory.fallbackReason()).get().asString().contains("not found");
            assertThat(factory.newVad()).isInstanceOf(EnergyVad.class);
        }
    }

    @Test
    void shouldFallBackToEnergyVadWhenModelFileIsNotAModel(@TempDir Path dir) throws Exception {
        Path bogus = Files.writeString(dir.resolve("silero_vad.onnx"), "not an onnx graph");
        try (VadFactory factory = VadFactory.create(Optional.of(bogus))) {
            assertThat(factory.usesSilero()).isFalse();
            assertThat(factory.fallbackReason()).get().asString().contains("failed to load");
            assertThat(factory.newVad().name()).isEqualTo("energy");
        }
    }

    @Test
    void shouldLookAtTheSystemPropertyFirst() {
        System.setProperty(VadFactory.MODEL_PROPERTY, "/somewhere/model.onnx");
        try {
            assertThat(VadFactory.candidates().get(0)).isEqualTo(Path.of("/somewhere/model.onnx"));
        } finally {
            System.clearProperty(VadFactory.MODEL_PROPERTY);
        }
    }
}
