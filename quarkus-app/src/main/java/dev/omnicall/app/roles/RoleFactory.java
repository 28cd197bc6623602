package dev.omnicall.app.roles;

import dev.omnicall.app.config.Role;
import dev.omnicall.kafka.TurnTrace;
import dev.omnicall.topologies.TopologyMetrics;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Instance;
import jakarta.inject.Inject;
import org.apache.kafka.streams.KafkaStreams;

/**
 * Creates the service of each role from its library's entry point: the Kafka Streams extension's client of
 * topologies' {@code ConversationTopology}, gpu-workers' {@code InferenceWorker}, telephony-bridge's {@code BridgeServer}.
 */
@ApplicationScoped
public class RoleFactory {

    /** Resolved only when the streams role starts: creating the extension's client connects to Kafka. */
    @Inject
    Instance<KafkaStreams> kafkaStreams;
    @Inject
    Instance<TopologyMetrics> topologyMetrics;
    /** The trace hooks of the bridge and the worker (the streams role's go into its Topology, StreamsTopology). */
    @Inject
    TurnTrace trace;

    /**
     * @param modelDir             the checkpoint the worker loads (the boot sequence's {@code ModelChoice})
     * @param encoderPaddedSeconds the worker's log-mel input length for it
     */
    public RoleService create(Role role, java.nio.file.Path modelDir, double encoderPaddedSeconds) {
        return switch (role) {
            case STREAMS -> new StreamsRoleService(kafkaStreams::get, topologyMetrics.get());
            case WORKER -> new WorkerRoleService(modelDir, encoderPaddedSeconds, trace);
            case BRIDGE -> new BridgeRoleService(trace);
        };
    }
}
