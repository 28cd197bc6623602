package dev.omnicall.worker;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class WorkerConfigTest {

    @Test
    void shouldReadEveryKeyFromProperties() {
        WorkerConfig c = WorkerConfig.fromProperties(Map.of(
                "kafka.bootstrap.servers", "k:9092",
                "kafka.security.protocol", "SSL",
                "omnicall.worker.model-dir", "/models/omni",
                "omnicall.worker.device", "gpu:1",
                "omnicall.worker.omega", "10, 20,40",
                "omnicall.worker.max-batch", "4",
                "omnicall.worker.batched-decode", "false",
                "omnicall.worker.kv-cache-bytes", "2g",
                "omnicall.worker.max-audio-seconds", "30",
                "omnicall.worker.instance-id", "w7"));

        assertThat(c.kafka().bootstrapServers()).isEqualTo("k:9092");
        assertThat(c.kafka().passthrough()).containsEntry("security.protocol", "SSL");
        assertThat(c.device()).isEqualTo(new DeviceSpec(1));
        assertThat(c.omegaSchedule()).containsExactly(10, 20, 40);
        assertThat(c.maxBatch()).isEqualTo(4);
        assertThat(c.batchedDecode()).isFalse();
        assertThat(c.kvCacheBytes()).isEqualTo(2L << 30);
        assertThat(c.maxAudio()).isEqualTo(Duration.ofSeconds(30));
        assertThat(c.instanceId()).isEqualTo("w7");
        assertThat(c.groupId()).isEqualTo(WorkerConfig.DEFAULT_GROUP);
    }

    @Test
    void shouldSayWhichKeyIsWrong() {
        Map<String, String> base = Map.of("kafka.bootstrap.servers", "k:9092", "omnicall.worker.model-dir", "/m");
        assertThatThrownBy(() -> WorkerConfig.fromProperties(Map.of("kafka.bootstrap.servers", "k:9092")))
                .hasMessageContaining("model-dir");
        assertThatThrownBy(() -> WorkerConfig.fromProperties(with(base, "omnicall.worker.omega", "10,0")))
                .hasMessageContaining("omega");
        assertThatThrownBy(() -> WorkerConfig.fromProperties(with(base, "omnicall.worker.kv-cache-bytes", "lots")))
                .hasMessageContaining("kv-cache-bytes");
        assertThatThrownBy(() -> WorkerConfig.fromProperties(with(base, "omnicall.worker.device", "tpu:0")))
                .hasMessageContaining("cpu or gpu:N");
        assertThatThrownBy(() -> WorkerConfig.fromProperties(with(base, "omnicall.worker.max-batch", "0")))
                .hasMessageContaining("max-batch");
    }

    @Test
    void shouldReadTheTranscriptionKeysAndDefaultToOnWithAutoLanguage() {
        Map<String, String> base = Map.of("kafka.bootstrap.servers", "k:9092", "omnicall.worker.model-dir", "/m");
        var d = WorkerConfig.fromProperties(base).transcription();
        assertThat(d.enabled()).isTrue();
        assertThat(d.language()).as("auto = detect").isNull();
        assertThat(d.maxTokens()).isEqualTo(128);
        assertThat(d.tokensPerStep()).isEqualTo(2);

        var m = new java.util.HashMap<>(base);
        m.put("omnicall.worker.transcribe.enabled", "false");
        m.put("omnicall.worker.transcribe.language", "de");
        m.put("omnicall.worker.transcribe.max-tokens", "64");
        m.put("omnicall.worker.transcribe.tokens-per-step", "3");
        m.put("omnicall.worker.transcribe.max-delay", "2500ms");
        var t = WorkerConfig.fromProperties(m).transcription();
        assertThat(t.maxDelay()).isEqualTo(java.time.Duration.ofMillis(2500));
        assertThat(d.maxDelay()).isEqualTo(java.time.Duration.ofSeconds(4));
        assertThat(WorkerConfig.fromProperties(with(base, "omnicall.worker.transcribe.max-delay", "PT1.5S"))
                .transcription().maxDelay()).isEqualTo(java.time.Duration.ofMillis(1500));
        assertThat(WorkerConfig.fromProperties(with(base, "omnicall.worker.transcribe.max-delay", "3s"))
                .transcription().maxDelay()).isEqualTo(java.time.Duration.ofSeconds(3));
        assertThat(t.enabled()).isFalse();
        assertThat(t.language()).isEqualTo("de");
        assertThat(t.maxTokens()).isEqualTo(64);
        assertThat(t.tokensPerStep()).isEqualTo(3);
        assertThat(WorkerConfig.fromProperties(with(base, "omnicall.worker.transcribe.language", "auto"))
                .transcription().language()).isNull();
        // the beams' ranking: whisper's per-token default, or its length_penalty as a number
        assertThat(d.lengthPenalty()).isEqualTo(dev.omnicall.model.LengthPenalty.PER_TOKEN);
        assertThat(WorkerConfig.fromProperties(with(base, "omnicall.worker.transcribe.length-penalty", "-0.5"))
                .transcription().lengthPenalty()).isEqualTo(dev.omnicall.model.LengthPenalty.alpha(-0.5));
    }

    @Test
    void shouldSayWhichTranscriptionKeyIsWrong() {
        Map<String, String> base = Map.of("kafka.bootstrap.servers", "k:9092", "omnicall.worker.model-dir", "/m");
        assertThatThrownBy(() -> WorkerConfig.fromProperties(with(base, "omnicall.worker.transcribe.enabled", "yes")))
                .hasMessageContaining("omnicall.worker.transcribe.enabled");
        assertThatThrownBy(() -> WorkerConfig.fromProperties(with(base, "omnicall.worker.transcribe.language", "English")))
                .hasMessageContaining("omnicall.worker.transcribe.language");
        assertThatThrownBy(() -> WorkerConfig.fromProperties(with(base, "omnicall.worker.transcribe.max-tokens", "0")))
                .hasMessageContaining("maxTokens");
        assertThatThrownBy(() -> WorkerConfig.fromProperties(with(base, "omnicall.worker.transcribe.tokens-per-step", "x")))
                .hasMessageContaining("tokens-per-step");
        assertThatThrownBy(() -> WorkerConfig.fromProperties(with(base, "omnicall.worker.transcribe.max-delay", "soon")))
                .hasMessageContaining("omnicall.worker.transcribe.max-delay").hasMessageContaining("soon");
        assertThatThrownBy(() -> WorkerConfig.fromProperties(with(base, "omnicall.worker.transcribe.max-delay", "PT0S")))
                .hasMessageContaining("maxDelay must be > 0");
        assertThatThrownBy(() -> WorkerConfig.fromProperties(with(base, "omnicall.worker.transcribe.length-penalty", "short")))
                .hasMessageContaining("omnicall.worker.transcribe.").hasMessageContaining("'short'");
    }

    @Test
    void shouldKeepTheProducersMetadataThroughABrokerOutageUnlessTold() {
        Map<String, String> base = Map.of("kafka.bootstrap.servers", "k:9092", "omnicall.worker.model-dir", "/m");
        // Kafka 4's default rebootstrap drops the metadata when the broker goes, and sends then block the loop
        assertThat(InferenceWorker.producerConfig(WorkerConfig.fromProperties(base)))
                .containsEntry("metadata.recovery.strategy", "none")
                .containsEntry("bootstrap.servers", "k:9092");
        assertThat(InferenceWorker.producerConfig(WorkerConfig.fromProperties(
                with(base, "kafka.metadata.recovery.strategy", "rebootstrap"))))
                .containsEntry("metadata.recovery.strategy", "rebootstrap");
    }

    @Test
    void shouldParseDevices() {
        assertThat(DeviceSpec.parse("cpu").isGpu()).isFalse();
        assertThat(DeviceSpec.parse("GPU:3")).isEqualTo(new DeviceSpec(3));
        assertThat(DeviceSpec.parse("gpu").toString()).isEqualTo("gpu:0");
        assertThatThrownBy(() -> DeviceSpec.parse("gpu:x")).isInstanceOf(IllegalArgumentException.class);
        assertThat(WorkerConfig.parseOmega("10,20,40,80")).isEqualTo(List.of(10, 20, 40, 80));
    }

    private static Map<String, String> with(Map<String, String> base, String k, String v) {
        var m = new java.util.HashMap<>(base);
        m.put(k, v);
        return m;
    }
}
