package dev.omnicall.app.boot;

import dev.omnicall.model.ModelFamily;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;

/** Which checkpoint the zero-setup run and a configured run load, and their encoder input length. */
class ModelChoiceTest {

    @TempDir
    Path root;

    private void writeDemoModel() throws IOException {
        Path demo = Files.createDirectories(root.resolve(ModelChoice.DEMO_DIR));
        Files.writeString(demo.resolve("config.json"), "{}");
    }

    @Test
    void shouldAnswerWithTheDemoModelWhetherOrNotItCarriesTheEndToEndTestsReadyMarker() throws IOException {
        // Given the committed demo checkpoint, without the READY file that gates DemoCallIT in the default build
        writeDemoModel();
        // When nothing is configured
        ModelChoice c = ModelChoice.resolve(Optional.empty(), Optional.empty(), root);
        // Then the demo model answers at natural length (not the tiny random checkpoint)
        assertThat(c.source()).isEqualTo(ModelChoice.Source.DEMO);
        assertThat(c.encoderPaddedSeconds()).isZero();
        assertThat(c.describe(root)).doesNotContain("TINY RANDOM");
        // And with the marker it is the same choice
        Files.writeString(root.resolve(ModelChoice.DEMO_DIR).resolve("READY"), "");
        assertThat(ModelChoice.resolve(Optional.empty(), Optional.empty(), root)).isEqualTo(c);
        // And named explicitly it is still the demo model, at natural length
        ModelChoice named = ModelChoice.resolve(Optional.of(Path.of("demo-model/checkpoint")), Optional.empty(), root);
        assertThat(named.isDemoModel(root)).isTrue();
        assertThat(named.encoderPaddedSeconds()).isZero();
    }

    @Test
    void shouldUseTheDemoModelAtNaturalLengthWhenNoDirIsSetAndTheWorkingDirectoryHoldsIt() throws IOException {
        // Given a repository root with the committed demo model
        writeDemoModel();
        // When nothing is configured
        ModelChoice c = ModelChoice.resolve(Optional.empty(), Optional.empty(), root);
        // Then the demo model answers, with unpadded encoder input, and the log line says so
        assertThat(c.source()).isEqualTo(ModelChoice.Source.DEMO);
        assertThat(c.dir()).isEqualTo(root.resolve("demo-model/checkpoint").toAbsolutePath());
        assertThat(c.encoderPaddedSeconds()).isZero();
        assertThat(c.describe(root)).contains("no omnicall.model.dir set: using the demo model in " + c.dir())
                .contains("encoder-padded-seconds 0");
    }

    @Test
    void shouldFallBackToTheTinyCheckpointPaddedTo30SecondsWhenTheDemoModelIsAbsent() throws IOException {
        // Given a working directory without the demo model (a folder without config.json does not count)
        Files.createDirectories(root.resolve(ModelChoice.DEMO_DIR));
        // When nothing is configured
        ModelChoice c = ModelChoice.resolve(Optional.empty(), Optional.empty(), root);
        // Then the tiny random checkpoint is used where the zero-setup run always wrote it, and the log line says why
        assertThat(c.source()).isEqualTo(ModelChoice.Source.TINY);
        assertThat(c.dir()).isEqualTo(root.resolve(".omnicall/tiny-model").toAbsolutePath());
        assertThat(c.encoderPaddedSeconds()).isEqualTo(30);
        assertThat(c.describe(root)).contains("no demo model at " + root.resolve("demo-model/checkpoint").toAbsolutePath())
                .contains("TINY RANDOM");
    }

    @Test
    void shouldUseTheConfiguredDirectoryWithReferencePaddingWhenOneIsSetEvenIfTheDemoModelExists() throws IOException {
        // Given the demo model and a configured (relative) checkpoint directory
        writeDemoModel();
        // When resolved
        ModelChoice c = ModelChoice.resolve(Optional.of(Path.of("target/tiny-model")), Optional.empty(), root);
        // Then the configured directory wins, relative to the working directory, padded as the reference model is
        assertThat(c.source()).isEqualTo(ModelChoice.Source.CONFIGURED);
        assertThat(c.dir()).isEqualTo(root.resolve("target/tiny-model").toAbsolutePath());
        assertThat(c.encoderPaddedSeconds()).isEqualTo(30);
        assertThat(c.isDemoModel(root)).isFalse();
    }

    @Test
    void shouldKeepNaturalLengthWhenTheDemoModelIsNamedExplicitly() throws IOException {
        // Given the demo model, named in omnicall.model.dir by another spelling of its path
        writeDemoModel();
        // When resolved
        ModelChoice c = ModelChoice.resolve(Optional.of(root.resolve("demo-model/../demo-model/checkpoint")), Optional.empty(), root);
        // Then it is recognised as the demo model and gets unpadded input
        assertThat(c.source()).isEqualTo(ModelChoice.Source.CONFIGURED);
        assertThat(c.isDemoModel(root)).isTrue();
        assertThat(c.encoderPaddedSeconds()).isZero();
        assertThat(c.describe(root)).contains("(the demo model)");
    }

    @Test
    void shouldLetAConfiguredPaddingWinForEveryChoice() throws IOException {
        // Given the demo model
        writeDemoModel();
        // When a padding is configured, with and without a directory
        ModelChoice demo = ModelChoice.resolve(Optional.empty(), Optional.of(30.0), root);
        ModelChoice other = ModelChoice.resolve(Optional.of(Path.of("/models/omni")), Optional.of(0.0), root);
        // Then it is used as it is
        assertThat(demo.source()).isEqualTo(ModelChoice.Source.DEMO);
        assertThat(demo.encoderPaddedSeconds()).isEqualTo(30);
        assertThat(other.encoderPaddedSeconds()).isZero();
        assertThat(other.dir()).isEqualTo(Path.of("/models/omni"));
    }

    @Test
    void shouldPassTheDemoModelOverForTheTinyOmni2CheckpointWhenTheFamilyIsLlamaOmni2AndNoDirIsSet() throws IOException {
        // Given a repository root with the (LLaMA-Omni) demo model
        writeDemoModel();
        // When the zero-setup run is asked for LLaMA-Omni2
        ModelChoice c = ModelChoice.resolve(Optional.empty(), Optional.empty(), Optional.of(ModelFamily.LLAMA_OMNI2), root);
        // Then the tiny LLaMA-Omni2 checkpoint answers, in a directory of its own, and the log line says so
        assertThat(c.source()).isEqualTo(ModelChoice.Source.TINY);
        assertThat(c.family()).isEqualTo(ModelFamily.LLAMA_OMNI2);
        assertThat(c.dir()).isEqualTo(root.resolve(".omnicall/tiny-omni2").toAbsolutePath());
        assertThat(c.encoderPaddedSeconds()).isEqualTo(30);
        assertThat(c.describe(root)).contains("omnicall.model.family=llama-omni2").contains("TINY RANDOM LLaMA-Omni2");
        // And asked for LLaMA-Omni, or for nothing, it is the demo model as before
        ModelChoice llamaOmni = ModelChoice.resolve(Optional.empty(), Optional.empty(), Optional.of(ModelFamily.LLAMA_OMNI), root);
        assertThat(llamaOmni).isEqualTo(ModelChoice.resolve(Optional.empty(), Optional.empty(), root));
        assertThat(llamaOmni.source()).isEqualTo(ModelChoice.Source.DEMO);
        // And a configured directory is still that directory, with the family its tiny checkpoint would be
        ModelChoice configured = ModelChoice.resolve(Optional.of(Path.of("models/x")), Optional.empty(),
                Optional.of(ModelFamily.LLAMA_OMNI2), root);
        assertThat(configured.source()).isEqualTo(ModelChoice.Source.CONFIGURED);
        assertThat(configured.dir()).isEqualTo(root.resolve("models/x").toAbsolutePath());
        assertThat(configured.family()).isEqualTo(ModelFamily.LLAMA_OMNI2);
    }

    @Test
    void shouldSpellEachFamilyAsTheConfigurationKeyTakesIt() {
        assertThat(ModelChoice.familyKey(ModelFamily.LLAMA_OMNI)).isEqualTo("llama-omni");
        assertThat(ModelChoice.familyKey(ModelFamily.LLAMA_OMNI2)).isEqualTo("llama-omni2");
    }
}
