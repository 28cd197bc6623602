package dev.omnicall.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The model family from config.json {@code model_type}: the two published values, and one error for the rest. */
class ModelFamilyTest {

    @TempDir
    Path dir;

    private Path config(String json) throws Exception {
        Files.writeString(dir.resolve("config.json"), json);
        return dir;
    }

    @Test
    void shouldPickLlamaOmniWhenModelTypeIsOmniSpeech2sLlama() throws Exception {
        // Given a config.json with LLaMA-Omni's model_type (other fields do not matter here)
        Path d = config("{\"model_type\": \"omni_speech2s_llama\", \"hidden_size\": 4096}");
        // Then the family is LLaMA-Omni
        assertThat(ModelFamily.of(d)).isEqualTo(ModelFamily.LLAMA_OMNI);
    }

    @Test
    void shouldPickLlamaOmni2WhenModelTypeIsOmni2Speech2sQwen2() throws Exception {
        Path d = config("{\"model_type\": \"omni2_speech2s_qwen2\"}");
        assertThat(ModelFamily.of(d)).isEqualTo(ModelFamily.LLAMA_OMNI2);
    }

    @Test
    void shouldNameTheFieldTheValueAndTheKnownValuesWhenModelTypeIsUnknown() throws Exception {
        // Given a plain Qwen2 config.json
        Path d = config("{\"model_type\": \"qwen2\"}");
        // Then one error names the field, the value found and the two known values
        assertThatThrownBy(() -> ModelFamily.of(d)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("model_type").hasMessageContaining("'qwen2'")
                .hasMessageContaining("omni_speech2s_llama").hasMessageContaining("omni2_speech2s_qwen2")
                .hasMessageContaining(d.resolve("config.json").toString());
    }

    @Test
    void shouldSayTheFieldIsMissingWhenConfigHasNoModelType() throws Exception {
        Path d = config("{\"hidden_size\": 64}");
        assertThatThrownBy(() -> ModelFamily.of(d)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("no model_type").hasMessageContaining("omni_speech2s_llama")
                .hasMessageContaining("omni2_speech2s_qwen2");
    }

    @Test
    void shouldNameTheFileWhenThereIsNoConfigJson() {
        assertThatThrownBy(() -> ModelFamily.of(dir)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("config.json").hasMessageContaining("model_type");
    }
}
