package dev.omnicall.app.boot;

import dev.omnicall.model.ModelFamily;
import dev.omnicall.model.omni2.Omni2Config;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The boot's checkpoint step: which tiny checkpoint it writes or reuses, and what stops the start. */
class ModelCheckpointTest {

    @TempDir
    Path root;

    private static final Optional<ModelFamily> OMNI2 = Optional.of(ModelFamily.LLAMA_OMNI2);

    private void writeLlamaOmniConfig(Path dir) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"), "{\"model_type\": \"omni_speech2s_llama\"}");
    }

    @Test
    void shouldWriteAndThenReuseTheTinyOmni2CheckpointWhenTheZeroSetupRunIsAskedForLlamaOmni2() throws IOException {
        // Given a working directory without any checkpoint, and omnicall.model.family=llama-omni2
        ModelChoice choice = ModelChoice.resolve(Optional.empty(), Optional.empty(), OMNI2, root);
        // When the boot's checkpoint step runs
        String first = ModelCheckpoint.prepare(choice, OMNI2, true, root);
        // Then it wrote the tiny LLaMA-Omni2 checkpoint (the worker reads the family from its config.json) where the
        // choice points, with the marker the step looks for
        Path dir = root.resolve(ModelChoice.TINY_OMNI2_DIR);
        assertThat(first).isEqualTo("wrote the tiny LLaMA-Omni2 checkpoint to " + dir.toAbsolutePath());
        assertThat(ModelFamily.of(dir)).isEqualTo(ModelFamily.LLAMA_OMNI2);
        assertThat(Omni2Config.read(dir).schedule(1).readTokens()).isEqualTo(3);
        assertThat(dir.resolve(ModelCheckpoint.TINY_OMNI2_MARKER)).isRegularFile();
        assertThat(dir.resolve("tts_tokenizer")).isDirectory();
        assertThat(dir.resolve("cosy2_decoder")).isDirectory();
        byte[] config = Files.readAllBytes(dir.resolve("config.json"));
        // And a second start reuses it as it is
        assertThat(ModelCheckpoint.prepare(choice, OMNI2, true, root))
                .isEqualTo("reusing the checkpoint in " + dir.toAbsolutePath() + " (tiny, random weights)");
        assertThat(Files.readAllBytes(dir.resolve("config.json"))).isEqualTo(config);
        // And one written by an older version of the writer (another format line in its marker) is rewritten
        Files.writeString(dir.resolve(ModelCheckpoint.TINY_OMNI2_MARKER), "seed=" + ModelCheckpoint.TINY_SEED + "\nformat=3\n");
        assertThat(ModelCheckpoint.prepare(choice, Optional.empty(), true, root)).startsWith("rewrote the tiny checkpoint in ");
        assertThat(Files.readString(dir.resolve(ModelCheckpoint.TINY_OMNI2_MARKER))).doesNotContain("format=3");
        assertThat(ModelFamily.of(dir)).isEqualTo(ModelFamily.LLAMA_OMNI2);
    }

    @Test
    void shouldWriteTheConfiguredFamilysTinyCheckpointIntoAnEmptyConfiguredDirectory() throws IOException {
        // Given omnicall.model.dir naming an empty directory (made for the model) and the family llama-omni2
        Path dir = Files.createDirectories(root.resolve("models/empty"));
        ModelChoice choice = ModelChoice.resolve(Optional.of(dir), Optional.empty(), OMNI2, root);
        // When the boot's checkpoint step runs
        String step = ModelCheckpoint.prepare(choice, OMNI2, true, root);
        // Then the directory holds the tiny LLaMA-Omni2 checkpoint
        assertThat(step).startsWith("wrote the tiny LLaMA-Omni2 checkpoint");
        assertThat(ModelFamily.of(dir)).isEqualTo(ModelFamily.LLAMA_OMNI2);
    }

    @Test
    void shouldStopTheStartNamingBothFamiliesWhenTheConfiguredCheckpointIsOfTheOtherFamily() throws IOException {
        // Given a configured LLaMA-Omni checkpoint
        Path dir = root.resolve("models/llama-omni");
        writeLlamaOmniConfig(dir);
        ModelChoice choice = ModelChoice.resolve(Optional.of(dir), Optional.empty(), OMNI2, root);
        // When the family configured is llama-omni2
        // Then the step refuses, naming the key, the checkpoint's model_type and what would do
        assertThatThrownBy(() -> ModelCheckpoint.prepare(choice, OMNI2, true, root))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("omnicall.model.family=llama-omni2")
                .hasMessageContaining("'omni_speech2s_llama'")
                .hasMessageContaining("omnicall.model.family=llama-omni,");
        // And with the family unset, or set to its own, the checkpoint is used as it is (config.json decides)
        assertThat(ModelCheckpoint.prepare(choice, Optional.empty(), true, root)).isEqualTo("reusing the checkpoint in " + dir);
        assertThat(ModelCheckpoint.prepare(choice, Optional.of(ModelFamily.LLAMA_OMNI), true, root))
                .isEqualTo("reusing the checkpoint in " + dir);
        assertThat(dir.resolve(ModelCheckpoint.TINY_OMNI2_MARKER)).doesNotExist();
    }

    @Test
    void shouldStopTheStartWhenNoCheckpointIsThereAndNoneMayBeWritten() {
        // Given the zero-setup run asked for llama-omni2 with write-tiny-if-missing=false
        ModelChoice choice = ModelChoice.resolve(Optional.empty(), Optional.empty(), OMNI2, root);
        // When the step runs
        // Then it refuses, naming the key, and writes nothing
        assertThatThrownBy(() -> ModelCheckpoint.prepare(choice, OMNI2, false, root))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("omnicall.model.write-tiny-if-missing=false");
        assertThat(root.resolve(ModelChoice.TINY_OMNI2_DIR)).doesNotExist();
    }
}
