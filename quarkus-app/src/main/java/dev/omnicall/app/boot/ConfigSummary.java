package dev.omnicall.app.boot;

import dev.omnicall.app.config.OmniCallConfig;
import dev.omnicall.app.config.Role;
import dev.omnicall.kafka.KafkaSettings;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The effective configuration as log lines. Secrets never appear: the SIP password is reported only as
 * set or not, and {@code kafka.*} values whose keys look secret (jaas, password, token, key) are
 * replaced by {@code [redacted]} using the same rule as {@link KafkaSettings#isSecret}.
 */
public final class ConfigSummary {

    private ConfigSummary() {
    }

    public static List<String> lines(OmniCallConfig c, Map<String, String> kafkaProps) {
        List<String> out = new ArrayList<>();
        out.add("roles=" + c.roles().stream().map(Role::key).sorted().toList() + " instance-id=" + c.instanceId());
        Map<String, String> kafka = new TreeMap<>();
        kafkaProps.forEach((k, v) -> kafka.put(k, KafkaSettings.isSecret(k) ? "[redacted]" : v));
        String servers = kafka.remove("kafka.bootstrap.servers");
        out.add("kafka: " + (servers == null ? "embedded broker (no kafka.bootstrap.servers)" : servers)
                + (kafka.isEmpty() ? "" : " client settings " + kafka)
                + " partitions=" + c.kafka().partitions() + " replication-factor=" + c.kafka().replicationFactor()
                + " create-topics=" + c.kafka().createTopics());
        out.add("serde: " + c.serde().kind() + c.serde().registryUrl().map(u -> " registry=" + u).orElse(""));
        out.add("model: dir=" + c.model().dir().map(Object::toString).orElse("(unset: demo model, else tiny)")
                + " family=" + c.model().family().map(ModelChoice::familyKey).orElse("(unset: the checkpoint's config.json;"
                + " llama-omni for the zero-setup run)")
                + " device=" + c.model().device() + " omega=" + c.model().omega()
                + " max-new-tokens=" + c.model().maxNewTokens() + " encoder-padded-seconds="
                + c.model().encoderPaddedSeconds().map(Object::toString).orElse("(unset: 0 for the demo model, else 30)")
                + "; worker: max-batch=" + c.worker().maxBatch()
                + " kv-cache-bytes=" + c.worker().kvCacheBytes() + " torch-threads=" + c.worker().torchThreads()
                + " transcribe=" + (c.worker().transcribe().enabled() ? "on (language " + c.worker().transcribe().language()
                + ", max-tokens " + c.worker().transcribe().maxTokens() + ", tokens-per-step "
                + c.worker().transcribe().tokensPerStep() + ", beams " + c.worker().transcribe().beams() + ")" : "off"));
        var sip = c.sip();
        out.add("sip: " + sip.host() + ":" + sip.port() + " " + sip.transports() + " max-calls=" + sip.maxCalls()
                + " invite-rate-per-source=" + sip.inviteRatePerSource() + " allow=" + sip.allow()
                + " auth=" + (sip.auth().username().isPresent()
                ? "on (realm " + sip.auth().realm() + ", user " + sip.auth().username().get() + ", password "
                + (sip.auth().password().isPresent() ? "set" : "missing") + ")"
                : "off"));
        out.add("rtp: ports " + c.rtp().portMin() + "-" + c.rtp().portMax()
                + c.rtp().advertisedAddress().map(a -> " advertised " + a).orElse("")
                + "; vad: " + c.vad().kind() + " threshold=" + c.vad().threshold() + " end-silence-ms="
                + c.vad().endSilenceMs() + (c.vad().adaptiveEndSilence() ? " (adaptive " + c.vad().endSilenceMinMs()
                + ".." + c.vad().endSilenceMaxMs() + ")" : "") + " segment-ms=" + c.vad().segmentMs());
        out.add("streams: state-dir=" + c.streams().stateDir() + " history-turns=" + c.streams().historyTurns()
                + " commit-interval-ms=" + c.streams().commitIntervalMs()
                + " redact-transcripts=" + c.streams().redactTranscripts());
        return out;
    }
}
