package dev.omnicall.app.roles;

import dev.omnicall.app.config.OmniCallConfig;
import dev.omnicall.kafka.KafkaSettings;
import dev.omnicall.kafka.SerdeConfig;
import dev.omnicall.worker.WorkerConfig;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.smallrye.config.PropertiesConfigSource;
import io.smallrye.config.SmallRyeConfigBuilder;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** The app's omnicall.worker.transcribe.* keys reach the worker library's WorkerConfig, defaults and set values alike. */
class WorkerRoleServiceConfigTest {

    private static WorkerConfig workerConfig(Map<String, String> props) {
        OmniCallConfig config = new SmallRyeConfigBuilder().addDefaultInterceptors().withMapping(OmniCallConfig.class)
                .withSources(new PropertiesConfigSource(props, "test", 500)).build().getConfigMapping(OmniCallConfig.class);
        RoleContext context = new RoleContext(config, KafkaSettings.of("127.0.0.1:9092"), SerdeConfig.embedded(),
                new SimpleMeterRegistry());
        return WorkerRoleService.workerConfig(context, Path.of("model"), 30);
    }

    @Test
    void shouldTranscribeWithTheLibraryDefaultsWhenNoTranscribeKeyIsSet() {
        WorkerConfig w = workerConfig(Map.of());
        assertThat(w.transcription().enabled()).isTrue();
        assertThat(w.transcription().languageOrAuto()).isEqualTo("auto");
        assertThat(w.transcription()).isEqualTo(dev.omnicall.model.stream.TranscriptionOptions.defaults());
    }

    @Test
    void shouldPassEveryTranscribeKeyToTheWorkerWhenSet() {
        WorkerConfig w = workerConfig(Map.of("omnicall.worker.transcribe.enabled", "false",
                "omnicall.worker.transcribe.language", "en", "omnicall.worker.transcribe.max-tokens", "64",
                "omnicall.worker.transcribe.tokens-per-step", "3"));
        assertThat(w.transcription().enabled()).isFalse();
        assertThat(w.transcription().language()).isEqualTo("en");
        assertThat(w.transcription().maxTokens()).isEqualTo(64);
        assertThat(w.transcription().tokensPerStep()).isEqualTo(3);
    }
}
