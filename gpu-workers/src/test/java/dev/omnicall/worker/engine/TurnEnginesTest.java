package dev.omnicall.worker.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.omnicall.model.TinyModels;
import dev.omnicall.model.omni2.TinyOmni2Writer;
import dev.omnicall.worker.WorkerConfig;
import dev.omnicall.worker.engine.omni2.Omni2TurnEngine;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The worker opens the engine of the checkpoint's family, from config.json {@code model_type}. */
class TurnEnginesTest {

    private static WorkerConfig config(Path dir) {
        return WorkerConfig.fromProperties(Map.of("kafka.bootstrap.servers", "127.0.0.1:9", "omnicall.worker.model-dir",
                dir.toString(), "omnicall.worker.encoder-padded-seconds", "0", "omnicall.worker.transcribe.enabled",
                "false"));
    }

    @Test
    void shouldOpenOmniTurnEngineWhenModelTypeIsOmniSpeech2sLlama() {
        // Given LLaMA-Omni's tiny checkpoint
        try (TurnEngine engine = TurnEngines.load(config(TinyModels.checkpointDir()), null)) {
            // Then the worker runs LLaMA-Omni's engine
            assertThat(engine).isInstanceOf(OmniTurnEngine.class);
        }
    }

    @Test
    void shouldOpenOmni2TurnEngineWhenModelTypeIsOmni2Speech2sQwen2() {
        // Given LLaMA-Omni2's tiny checkpoint
        Path dir = TinyOmni2Writer.writeIfAbsent(Paths.get("target", "tiny-omni2-20240906").toAbsolutePath(),
                20240906L);
        try (TurnEngine engine = TurnEngines.load(config(dir), null)) {
            // Then the worker runs LLaMA-Omni2's engine with the checkpoint's stream_params (3,10)
            assertThat(engine).isInstanceOf(Omni2TurnEngine.class);
            Omni2TurnEngine omni2 = (Omni2TurnEngine) engine;
            assertThat(omni2.options().schedule().readTokens()).isEqualTo(3);
            assertThat(omni2.options().schedule().writeUnits()).isEqualTo(10);
        }
    }

    @Test
    void shouldFailWithOneErrorNamingModelTypeWhenTheFamilyIsUnknown(@TempDir Path dir) throws Exception {
        // Given a checkpoint directory of some other model
        Files.writeString(dir.resolve("config.json"), "{\"model_type\": \"llava_llama\"}");
        // Then the worker does not start, and says why in one line
        assertThatThrownBy(() -> TurnEngines.load(config(dir), null)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("model_type").hasMessageContaining("'llava_llama'")
                .hasMessageContaining("omni_speech2s_llama").hasMessageContaining("omni2_speech2s_qwen2");
    }
}
