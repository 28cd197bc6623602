package dev.omnicall.worker.engine;

import dev.omnicall.kafka.KafkaSettings;
import dev.omnicall.model.TinyCheckpointWriter;
import dev.omnicall.model.TinyCheckpointWriter.EncoderLayout;
import dev.omnicall.worker.WorkerConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The worker hands its speech-encoder setting to the model loader (`omnicall.model.speech-encoder`). */
class OmniTurnEngineLoadTest {

    @TempDir
    Path tmp;

    @Test
    void shouldLoadTheWhisperEncoderFromTheConfiguredFileWhenTheShardsLackIt() throws Exception {
        // Given a tiny checkpoint whose encoder is only in an openai-layout file, moved out of the checkpoint
        Path dir = TinyCheckpointWriter.writeIfAbsent(tmp.resolve("ckpt"), 20240906L, EncoderLayout.OPENAI_FILE);
        Path moved = Files.createDirectories(tmp.resolve("whisper")).resolve("large-v3.pt");
        Files.move(dir.resolve(TinyCheckpointWriter.OPENAI_ENCODER_FILE), moved);
        WorkerConfig config = WorkerConfig.defaults(KafkaSettings.of("127.0.0.1:9"), dir).withEncoderPaddedSeconds(0);

        // When the engine loads without and with the setting
        // Then without it the loader names the file it looked for; with it the engine loads and runs
        assertThatThrownBy(() -> OmniTurnEngine.load(config)).hasMessageContaining("large-v3.pt");
        try (OmniTurnEngine engine = OmniTurnEngine.load(config, moved)) {
            assertThat(engine.generator().model().config()).isNotNull();
        }
    }
}
