package dev.omnicall.app.roles;

import dev.omnicall.app.config.OmniCallConfig;
import dev.omnicall.app.config.SerdeProperties;
import dev.omnicall.app.config.StreamsRoleSwitch;
import dev.omnicall.kafka.SerdeConfig;
import dev.omnicall.kafka.TurnTrace;
import dev.omnicall.topologies.ConversationConfig;
import dev.omnicall.topologies.ConversationTopology;
import dev.omnicall.topologies.StreamsRole;
import dev.omnicall.topologies.TopologyMetrics;
import io.quarkus.arc.lookup.LookupIfProperty;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.eclipse.microprofile.config.Config;

/**
 * The streams role for Quarkus' Kafka Streams extension. The extension builds one {@code KafkaStreams} from the
 * {@link Topology} bean with the {@code quarkus.kafka-streams.*} settings of application.properties, starts it once
 * the topology's input topics exist, adds its health checks and Micrometer's Kafka Streams meters, and offers it for
 * injection (interactive queries); {@link StreamsRoleService} waits for it and reports its state to the boot sequence.
 */
@ApplicationScoped
public class StreamsTopology {

    /**
     * Only where {@code omnicall.roles} names streams ({@link StreamsRoleSwitch}): with no Topology to look up the
     * extension creates no Streams client.
     */
    @Produces
    @Singleton
    @LookupIfProperty(name = StreamsRoleSwitch.ACTIVE, stringValue = "true")
    Topology topology(ConversationConfig conversation, SerdeConfig serde, TopologyMetrics metrics, TurnTrace trace) {
        return ConversationTopology.build(conversation, serde, metrics, trace);
    }

    @Produces
    @Singleton
    ConversationConfig conversation(OmniCallConfig config) {
        OmniCallConfig.Streams c = config.streams();
        ConversationConfig defaults = ConversationConfig.defaults();
        return defaults.withHistoryTurns(c.historyTurns(), Math.min(defaults.historyAudioTurns(), c.historyTurns()))
                .withRedactedTranscripts(c.redactTranscripts()).withStateTtl(c.stateTtl()).withEndedGrace(c.endedGrace());
    }

    /** The topology's own counters; {@link StreamsRoleService} exposes them as {@code omnicall_streams_*_total}. */
    @Produces
    @Singleton
    TopologyMetrics topologyMetrics() {
        return new TopologyMetrics();
    }

    @Produces
    @Singleton
    SerdeConfig serde(OmniCallConfig config, Config raw) {
        return SerdeProperties.serdeConfig(config, raw);
    }

    /** A failed stream thread is replaced, except on a refused login (the library's rule, {@link StreamsRole}). */
    @Produces
    @Singleton
    StreamsUncaughtExceptionHandler onStreamThreadFailure() {
        return StreamsRole::onThreadFailure;
    }
}
