package dev.omnicall.app.roles;

import dev.omnicall.app.config.OmniCallConfig;
import dev.omnicall.app.config.Role;
import dev.omnicall.topologies.ConversationConfig;
import dev.omnicall.topologies.StreamsRole;
import dev.omnicall.topologies.StreamsSettings;
import dev.omnicall.topologies.TopologyMetrics;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.MeterRegistry;
import org.apache.kafka.streams.KafkaStreams;
import org.jboss.logging.Logger;

import java.time.Duration;
import java.util.List;

/**
 * The streams role: {@code topologies/}'s {@link StreamsRole} (the conversation topology on Kafka Streams,
 * exactly-once v2) with this process's state directory, commit interval and history length.
 */
public final class StreamsRoleService implements RoleService {

    private static final Logger LOG = Logger.getLogger(StreamsRoleService.class);
    /** Application id: the Streams consumer group and the prefix of its changelog topics. */
    public static final String APPLICATION_ID = "omnicall-streams";
    private static final Duration RUNNING_TIMEOUT = Duration.ofSeconds(60);
    private static final List<String> COUNTERS = List.of(TopologyMetrics.TURN_REQUESTS, TopologyMetrics.TURNS_COMPLETED,
            TopologyMetrics.TURN_METRICS, TopologyMetrics.DEAD_LETTERS, TopologyMetrics.DUPLICATE_SEGMENTS,
            TopologyMetrics.LATE_SEGMENTS, TopologyMetrics.CAPPED_SEGMENTS, TopologyMetrics.UTTERANCES_WITH_GAPS,
            TopologyMetrics.DUPLICATE_DELTAS, TopologyMetrics.STALE_ATTEMPTS, TopologyMetrics.CALLS_CLEARED,
            TopologyMetrics.DELTAS_WITHOUT_CONTEXT, TopologyMetrics.RECORDS_AFTER_CALL_ENDED, TopologyMetrics.CALLS_EXPIRED,
            TopologyMetrics.EXPIRED_STATE_ENTRIES, TopologyMetrics.CALLS_ADOPTED, TopologyMetrics.ENDED_CALLS_FORGOTTEN,
            TopologyMetrics.CALLER_TEXTS, TopologyMetrics.CALLER_TEXTS_WITHOUT_CONTEXT, TopologyMetrics.CALLER_TEXTS_UNKNOWN_TURN,
            TopologyMetrics.DUPLICATE_CALLER_TEXTS, TopologyMetrics.STALE_CALLER_TEXTS, TopologyMetrics.REPLIES_CUT,
            TopologyMetrics.CUTS_OF_ANOTHER_ATTEMPT, TopologyMetrics.BARGE_INS_UNKNOWN_TURN, TopologyMetrics.DUPLICATE_BARGE_INS,
            TopologyMetrics.RECORDS_IN_END_GRACE, TopologyMetrics.ENDED_CALLS_RELEASED);

    private volatile StreamsRole streams;
    private volatile boolean closing;

    @Override
    public Role role() {
        return Role.STREAMS;
    }

    @Override
    public void start(RoleContext context) throws InterruptedException {
        OmniCallConfig.Streams c = context.config().streams();
        StreamsSettings settings = new StreamsSettings(APPLICATION_ID, c.stateDir(), c.commitIntervalMs(), true, 1);
        ConversationConfig defaults = ConversationConfig.defaults();
        ConversationConfig conversation = defaults.withHistoryTurns(c.historyTurns(),
                Math.min(defaults.historyAudioTurns(), c.historyTurns())).withRedactedTranscripts(c.redactTranscripts())
                .withStateTtl(c.stateTtl()).withEndedGrace(c.endedGrace());
        StreamsRole role = new StreamsRole(context.kafka(), context.serde(), settings, conversation);
        bind(role.metrics(), context.registry());
        streams = role;
        role.start();
        long deadline = System.nanoTime() + RUNNING_TIMEOUT.toNanos();
        while (!role.isRunning() && System.nanoTime() < deadline && role.isHealthy()) {
            Thread.sleep(50);
        }
        if (!role.isRunning()) {
            LOG.warnf("streams role not RUNNING after %d s (state %s); carrying on, readiness stays DOWN until it is",
                    RUNNING_TIMEOUT.toSeconds(), role.state());
        }
    }

    /** The topology's own counters, read at scrape time: {@code omnicall_streams_<name>_total}. */
    private static void bind(TopologyMetrics metrics, MeterRegistry registry) {
        for (String name : COUNTERS) {
            FunctionCounter.builder("omnicall.streams." + name, metrics, m -> m.get(name))
                    .description("conversation topology: " + name.replace('_', ' ')).register(registry);
        }
    }

    /** The running streams role (for interactive queries of its state stores), once started. */
    public java.util.Optional<StreamsRole> streamsRole() {
        return java.util.Optional.ofNullable(streams);
    }

    @Override
    public RoleStatus status() {
        StreamsRole s = streams;
        if (s == null) {
            return RoleStatus.of(RoleStatus.State.STARTING, "creating the Kafka Streams client");
        }
        KafkaStreams.State state = s.state();
        String detail = "Kafka Streams " + state;
        return switch (state) {
            // A rebalance (another instance joining) is routine: the role stays ready through it.
            case RUNNING, REBALANCING -> RoleStatus.of(RoleStatus.State.RUNNING, detail);
            case CREATED -> RoleStatus.of(RoleStatus.State.STARTING, detail);
            default -> RoleStatus.of(closing ? RoleStatus.State.STOPPED : RoleStatus.State.FAILED, detail);
        };
    }

    @Override
    public void close() {
        closing = true;
        StreamsRole s = streams;
        if (s != null) {
            s.close();
        }
    }
}
