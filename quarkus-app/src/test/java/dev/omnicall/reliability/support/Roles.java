package dev.omnicall.reliability.support;

import dev.omnicall.bridge.testing.FreePorts;

import dev.omnicall.bridge.BridgeConfig;
import dev.omnicall.bridge.BridgeMetrics;
import dev.omnicall.bridge.BridgeServer;
import dev.omnicall.bridge.media.CountingMediaMetrics;
import dev.omnicall.bridge.media.MediaConfig;
import dev.omnicall.bridge.sip.SipConfig;
import dev.omnicall.bridge.vad.VadFactory;
import dev.omnicall.kafka.KafkaSettings;
import dev.omnicall.kafka.SerdeConfig;
import dev.omnicall.model.omni.TinyCheckpointWriter;
import dev.omnicall.topologies.ConversationConfig;
import dev.omnicall.topologies.StreamsRole;
import dev.omnicall.topologies.StreamsSettings;
import dev.omnicall.worker.CountingWorkerMetrics;
import dev.omnicall.worker.InferenceWorker;
import dev.omnicall.worker.WorkerConfig;
import dev.omnicall.worker.engine.OmniTurnEngine;

import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** The three roles started in the test JVM from their library classes, as the app wires them. */
public final class Roles {

    public static final SerdeConfig SERDE = SerdeConfig.embedded();
    public static final long TINY_SEED = 20240906L;

    private Roles() {
    }

    /** The tiny random checkpoint in the published layout (written once, byte-identical for the seed). */
    public static Path tinyCheckpoint() {
        return TinyCheckpointWriter.writeIfAbsent(Paths.get("target", "tiny-checkpoint-" + TINY_SEED).toAbsolutePath(),
                TINY_SEED);
    }

    /**
     * The same tiny checkpoint except that its replies never end before the token cap (its eos logits are 0:
     * {@link TinyCheckpointWriter#writeEndlessIfAbsent}), for tests whose premise is a turn still generating when
     * a call ends or a bridge dies: the plain one ends a reply now and then, depending on the call's audio.
     */
    public static Path endlessTinyCheckpoint() {
        return TinyCheckpointWriter.writeEndlessIfAbsent(Paths.get("target", "tiny-endless-" + TINY_SEED)
                .toAbsolutePath(), TINY_SEED);
    }

    // ---- streams ------------------------------------------------------------------------------------------

    public static StreamsRole startStreams(KafkaSettings kafka, String applicationId, Path stateDir) {
        return startStreams(kafka, applicationId, stateDir, ConversationConfig.defaults());
    }

    public static StreamsRole startStreams(KafkaSettings kafka, String applicationId, Path stateDir, ConversationConfig config) {
        StreamsRole role = new StreamsRole(kafka, SERDE, new StreamsSettings(applicationId, stateDir, 20, true, 1), config);
        role.start();
        Waits.until("streams role RUNNING", Duration.ofSeconds(90), role::isRunning);
        return role;
    }

    // ---- worker -------------------------------------------------------------------------------------------

    /** Worker properties as {@code WorkerMain} takes them (the worker's own session timeout and heartbeat). */
    public static Map<String, String> workerProperties(String bootstrap, String instance, String group, int maxTokens) {
        Map<String, String> p = new HashMap<>();
        p.put("kafka.bootstrap.servers", bootstrap);
        p.put("omnicall.worker.model-dir", tinyCheckpoint().toString());
        p.put("omnicall.worker.encoder-padded-seconds", "0");
        p.put("omnicall.worker.max-new-tokens", Integer.toString(maxTokens));
        p.put("omnicall.worker.instance-id", instance);
        p.put("omnicall.worker.group-id", group);
        return p;
    }

    /** {@link #workerProperties} with the {@link #endlessTinyCheckpoint()}: every reply runs to maxTokens. */
    public static Map<String, String> endlessWorkerProperties(String bootstrap, String instance, String group, int maxTokens) {
        Map<String, String> p = workerProperties(bootstrap, instance, group, maxTokens);
        p.put("omnicall.worker.model-dir", endlessTinyCheckpoint().toString());
        return p;
    }

    /** One inference worker on its own thread. */
    public static final class Worker implements AutoCloseable {
        public final InferenceWorker worker;
        public final CountingWorkerMetrics metrics = new CountingWorkerMetrics();
        public final WorkerConfig config;
        private final OmniTurnEngine engine;
        private final Thread thread;

        public Worker(Map<String, String> props) {
            config = WorkerConfig.fromProperties(props);
            engine = OmniTurnEngine.load(config);
            worker = new InferenceWorker(config, engine, metrics);
            thread = new Thread(worker, "worker-" + config.instanceId());
            thread.setDaemon(true);
            thread.start();
            Waits.until("worker " + config.instanceId() + " assigned", Duration.ofSeconds(60), worker::isAssigned);
        }

        public boolean isAlive() {
            return thread.isAlive();
        }

        @Override
        public void close() {
            worker.close();
            engine.close();
        }
    }

    // ---- bridge -------------------------------------------------------------------------------------------

    /** A bridge with counting media metrics, the energy VAD (no model file needed) and a 40-port RTP range. */
    public static final class Bridge implements AutoCloseable {
        public final BridgeServer server;
        public final BridgeMetrics metrics = BridgeMetrics.inMemory();
        public final CountingMediaMetrics media = new CountingMediaMetrics();
        public final int sipPort;
        private final VadFactory vad;

        public Bridge(KafkaSettings kafka, String id, int sipPort, int maxCalls, double invitesPerSecond, int burst) {
            this(kafka, id, sipPort, maxCalls, invitesPerSecond, burst, Duration.ofSeconds(5));
        }

        public Bridge(KafkaSettings kafka, String id, int sipPort, int maxCalls, double invitesPerSecond, int burst,
                      Duration rtpTimeout) {
            this.sipPort = sipPort;
            this.vad = VadFactory.energyOnly();
            SipConfig sip = SipConfig.defaults("127.0.0.1", sipPort, "127.0.0.1").withMaxCalls(maxCalls)
                    .withRateLimit(invitesPerSecond, burst);
            int rtp = FreePorts.rtpRange(40);
            BridgeConfig config = BridgeConfig.single(id, sip, MediaConfig.defaults(vad).withMetrics(media), kafka, SERDE)
                    .withRtpPorts(rtp, rtp + Math.max(40, maxCalls * 2 + 2)).withRtpTimeout(rtpTimeout);
            server = new BridgeServer(config, metrics);
            server.start();
        }

        public List<String> liveCalls() {
            return server.liveCalls();
        }

        public double kafkaErrors(String stage) {
            return metrics.count("omnicall_bridge_kafka_errors_total", "stage", stage);
        }

        public double rejected(String reason) {
            return metrics.count("omnicall_bridge_sip_rejected_total", "reason", reason);
        }

        public double malformed(String kind) {
            return metrics.count("omnicall_bridge_sip_malformed_total", "kind", kind);
        }

        @Override
        public void close() {
            server.stop();
            vad.close();
        }
    }
}
