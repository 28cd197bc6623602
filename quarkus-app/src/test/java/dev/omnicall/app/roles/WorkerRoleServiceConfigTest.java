package dev.omnicall.app.roles;

import dev.omnicall.app.config.OmniCallConfig;
import dev.omnicall.kafka.KafkaSettings;
import dev.omnicall.kafka.SerdeConfig;
import dev.omnicall.model.omni2.Omni2Config;
import dev.omnicall.model.omni2.TinyOmni2Writer;
import dev.omnicall.model.omni2.TtsSampling;
import dev.omnicall.model.omni2.TtsSchedule;
import dev.omnicall.worker.WorkerConfig;
import dev.omnicall.worker.engine.OmniTurnEngine;
import dev.omnicall.worker.engine.omni2.Omni2TurnEngine;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.smallrye.config.PropertiesConfigSource;
import io.smallrye.config.SmallRyeConfigBuilder;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.Map;
import java.util.Properties;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The app's omnicall.worker.transcribe.* keys reach the worker library's WorkerConfig, and its omnicall.worker.omni2.*
 * keys the Omni2 engine's options, defaults and set values alike.
 */
class WorkerRoleServiceConfigTest {

    private static OmniCallConfig config(Map<String, String> props) {
        return new SmallRyeConfigBuilder().addDefaultInterceptors().withMapping(OmniCallConfig.class)
                .withSources(new PropertiesConfigSource(props, "test", 500)).build().getConfigMapping(OmniCallConfig.class);
    }

    /** The engine's options as Omni2TurnEngine.load builds them from the settings the role hands on. */
    private static Omni2TurnEngine.Options omni2Options(Map<String, String> props) {
        Properties settings = new Properties();
        settings.putAll(WorkerRoleService.omni2Settings(config(props).worker().omni2()));
        Omni2Config tiny = Omni2Config.parse(TinyOmni2Writer.configJson(TinyOmni2Writer.Options.defaults()).toString());
        return Omni2TurnEngine.Options.fromSettings(tiny, 16, settings);
    }

    private static WorkerConfig workerConfig(Map<String, String> props) {
        OmniCallConfig config = config(props);
        RoleContext context = new RoleContext(config, KafkaSettings.of("127.0.0.1:9092"), SerdeConfig.embedded(),
                new SimpleMeterRegistry());
        return WorkerRoleService.workerConfig(context, Path.of("model"), 30);
    }

    @Test
    void shouldTranscribeWithTheLibraryDefaultsWhenNoTranscribeKeyIsSet() {
        WorkerConfig w = workerConfig(Map.of());
        assertThat(w.transcription().enabled()).isTrue();
        assertThat(w.transcription().languageOrAuto()).isEqualTo("auto");
        // the library's defaults but for the beam search: the app searches 5 hypotheses, the library greedily
        assertThat(w.transcription()).isEqualTo(dev.omnicall.model.stream.TranscriptionOptions.defaults().withBeams(5));
    }

    @Test
    void shouldPassEveryTranscribeKeyToTheWorkerWhenSet() {
        WorkerConfig w = workerConfig(Map.of("omnicall.worker.transcribe.enabled", "false",
                "omnicall.worker.transcribe.language", "en", "omnicall.worker.transcribe.max-tokens", "64",
                "omnicall.worker.transcribe.tokens-per-step", "3", "omnicall.worker.transcribe.beams", "2",
                "omnicall.worker.transcribe.length-penalty", "0"));
        assertThat(w.transcription().enabled()).isFalse();
        assertThat(w.transcription().language()).isEqualTo("en");
        assertThat(w.transcription().maxTokens()).isEqualTo(64);
        assertThat(w.transcription().tokensPerStep()).isEqualTo(3);
        assertThat(w.transcription().beams()).isEqualTo(2);
        assertThat(w.transcription().lengthPenalty()).isEqualTo(dev.omnicall.model.LengthPenalty.alpha(0));
    }

    @Test
    void shouldLeaveTheOmni2EngineOnTheCheckpointsScheduleAndGreedyWhenNoOmni2KeyIsSet() {
        // Given no omnicall.worker.omni2.* key
        // When the role hands its settings to the engine
        // Then it hands none, and the engine runs the checkpoint's stream_params, the reference's cap, greedy
        assertThat(WorkerRoleService.omni2Settings(config(Map.of()).worker().omni2())).isEmpty();
        Omni2TurnEngine.Options o = omni2Options(Map.of());
        Omni2Config tiny = Omni2Config.parse(TinyOmni2Writer.configJson(TinyOmni2Writer.Options.defaults()).toString());
        assertThat(o.schedule()).isEqualTo(tiny.schedule(Omni2Config.FINAL_TTS_CAP));
        assertThat(o.sampling().isGreedy()).isTrue();
    }

    @Test
    void shouldRunTheOmni2EngineOnTheConfiguredScheduleAndSamplingWhenTheKeysAreSet() {
        // Given R, W, the final cap and seeded sampling set in the app's configuration
        Map<String, String> props = Map.of("omnicall.worker.omni2.stream-params", " (2,5) ",
                "omnicall.worker.omni2.tts-final-cap", "40", "omnicall.worker.omni2.tts-sampling", "sampled:7:0.8");
        // When the role hands them to the engine
        Omni2TurnEngine.Options o = omni2Options(props);
        // Then the engine writes up to 5 units after every 2 text tokens, at most 40 after the text, sampling with seed 7
        assertThat(WorkerRoleService.omni2Settings(config(props).worker().omni2())).containsOnlyKeys(
                Omni2TurnEngine.STREAM_PARAMS_KEY, Omni2TurnEngine.FINAL_CAP_KEY, Omni2TurnEngine.TTS_SAMPLING_KEY);
        assertThat(o.schedule()).isEqualTo(new TtsSchedule(2, 5, 40));
        assertThat(o.sampling()).isEqualTo(TtsSampling.sampled(7, 0.8));
    }

    @Test
    void shouldHandTheSchedulerKeysToTheWorkerOnlyWhenSet() {
        // Given no scheduler key, then both
        // When the role hands its settings to the worker
        // Then it hands none (the worker's defaults: admission auto = 400 ms on a GPU and off on the CPU, gap bound
        // off), then each under the worker's names
        assertThat(WorkerRoleService.schedulerSettings(config(Map.of()).worker())).isEmpty();
        assertThat(WorkerRoleService.schedulerSettings(config(Map.of("omnicall.worker.admission-margin-ms", "400",
                "omnicall.worker.prefill-gap-bound", "off", "omnicall.worker.prefill-gap-margin-ms", "300")).worker()))
                .containsExactly(Map.entry(dev.omnicall.worker.InferenceWorker.ADMISSION_MARGIN_MS, "400"),
                        Map.entry(dev.omnicall.worker.InferenceWorker.PREFILL_GAP_BOUND, "off"),
                        Map.entry(dev.omnicall.worker.InferenceWorker.PREFILL_GAP_MARGIN_MS, "300"));
    }

    @Test
    void shouldHandThePrefillAndKvPoolKeysToTheEngineUnderItsNamesOnlyWhenSet() {
        // Given no prefill or pool key, then all six set in the app's configuration
        Map<String, String> props = Map.of("omnicall.worker.fused-prefill", "off",
                "omnicall.worker.prefill-slice-rows", " 32 ", "omnicall.worker.kv-pool", "off",
                "omnicall.worker.kv-pool-positions", "1024", "omnicall.worker.kv-pool-max-slots", "12",
                "omnicall.worker.ctc-pool-tokens", "96");
        // When the role hands its settings to the engine
        // Then it hands none (the engine's defaults, or a -D value, stay), then each under the name OmniTurnEngine reads
        assertThat(WorkerRoleService.engineSettings(config(Map.of()).worker())).isEmpty();
        assertThat(WorkerRoleService.engineSettings(config(props).worker())).containsExactly(
                Map.entry(OmniTurnEngine.FUSED_PREFILL, "off"), Map.entry(OmniTurnEngine.PREFILL_SLICE_ROWS, "32"),
                Map.entry(OmniTurnEngine.POOL_SWITCH, "off"), Map.entry(OmniTurnEngine.POOL_POSITIONS, "1024"),
                Map.entry(OmniTurnEngine.POOL_MAX_SLOTS, "12"), Map.entry(OmniTurnEngine.CTC_POOL_TOKENS, "96"));
        assertThat(dev.omnicall.app.config.ConfigCheck.problems(config(props))).isEmpty();
    }

    @Test
    void shouldRefuseABadPrefillOrKvPoolValueNamingItsKey() {
        assertThat(dev.omnicall.app.config.ConfigCheck.problems(config(Map.of("omnicall.worker.fused-prefill", "yes",
                "omnicall.worker.prefill-slice-rows", "-4", "omnicall.worker.kv-pool", "maybe",
                "omnicall.worker.kv-pool-positions", "0", "omnicall.worker.kv-pool-max-slots", "0",
                "omnicall.worker.ctc-pool-tokens", "0"))))
                .anySatisfy(m -> assertThat(m).contains("omnicall.worker.fused-prefill='yes'"))
                .anySatisfy(m -> assertThat(m).contains("omnicall.worker.prefill-slice-rows='-4'"))
                .anySatisfy(m -> assertThat(m).contains("omnicall.worker.kv-pool='maybe'"))
                .anySatisfy(m -> assertThat(m).contains("omnicall.worker.kv-pool-positions=0"))
                .anySatisfy(m -> assertThat(m).contains("omnicall.worker.kv-pool-max-slots=0"))
                .anySatisfy(m -> assertThat(m).contains("omnicall.worker.ctc-pool-tokens=0"));
        assertThat(dev.omnicall.app.config.ConfigCheck.problems(config(Map.of("omnicall.worker.prefill-slice-rows",
                "auto", "omnicall.worker.fused-prefill", "ON")))).isEmpty();
    }

    @Test
    void shouldRefuseABadSchedulerValueNamingItsKey() {
        assertThat(dev.omnicall.app.config.ConfigCheck.problems(config(Map.of("omnicall.worker.prefill-gap-bound", "maybe",
                "omnicall.worker.admission-margin-ms", "-5", "omnicall.worker.prefill-gap-margin-ms", "-1"))))
                .anySatisfy(m -> assertThat(m).contains("omnicall.worker.prefill-gap-margin-ms=-1"))
                .anySatisfy(m -> assertThat(m).contains("omnicall.worker.prefill-gap-bound='maybe'"))
                .anySatisfy(m -> assertThat(m).contains("omnicall.worker.admission-margin-ms='-5'"));
        assertThat(dev.omnicall.app.config.ConfigCheck.problems(config(Map.of("omnicall.worker.admission-margin-ms", "soon"))))
                .anySatisfy(m -> assertThat(m).contains("omnicall.worker.admission-margin-ms='soon'").contains("auto"));
        assertThat(dev.omnicall.app.config.ConfigCheck.problems(config(Map.of("omnicall.worker.admission-margin-ms", "off"))))
                .noneSatisfy(m -> assertThat(m).contains("admission"));
    }

    @Test
    void shouldHandAutoAndOffAdmissionToTheWorkerAsWritten() {
        assertThat(WorkerRoleService.schedulerSettings(config(Map.of("omnicall.worker.admission-margin-ms", " off")).worker()))
                .containsExactly(Map.entry(dev.omnicall.worker.InferenceWorker.ADMISSION_MARGIN_MS, "off"));
        assertThat(WorkerRoleService.schedulerSettings(config(Map.of("omnicall.worker.admission-margin-ms", "auto")).worker()))
                .containsExactly(Map.entry(dev.omnicall.worker.InferenceWorker.ADMISSION_MARGIN_MS, "auto"));
    }
}
