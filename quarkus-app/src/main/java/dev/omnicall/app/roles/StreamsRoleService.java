package dev.omnicall.app.roles;

import dev.omnicall.app.config.Role;
import dev.omnicall.topologies.TopologyMetrics;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.kafka.KafkaStreamsMetrics;
import org.apache.kafka.streams.KafkaStreams;
import org.jboss.logging.Logger;

import java.time.Duration;
import java.util.List;
import java.util.function.Supplier;

/**
 * The streams role in the boot sequence. Quarkus' Kafka Streams extension creates and starts the Streams client
 * ({@link StreamsTopology}); this service waits until it runs, so that the worker and the bridge start after it,
 * exposes the topology's counters, reports its state, and closes it before the embedded broker stops.
 */
public final class StreamsRoleService implements RoleService {

    private static final Logger LOG = Logger.getLogger(StreamsRoleService.class);
    /** Application id: the Streams consumer group and the prefix of its changelog topics ({@code quarkus.kafka-streams.application-id}). */
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

    /** The extension's client, looked up only once the broker and topics are there (creating it connects). */
    private final Supplier<KafkaStreams> extensionStreams;
    private final TopologyMetrics metrics;
    private volatile KafkaStreams streams;
    private volatile KafkaStreamsMetrics clientMeters;
    private volatile boolean closing;

    StreamsRoleService(Supplier<KafkaStreams> extensionStreams, TopologyMetrics metrics) {
        this.extensionStreams = extensionStreams;
        this.metrics = metrics;
    }

    @Override
    public Role role() {
        return Role.STREAMS;
    }

    @Override
    public void start(RoleContext context) throws InterruptedException {
        KafkaStreams s = extensionStreams.get();
        if (s == null) {
            throw new IllegalStateException("the Kafka Streams extension has no Streams client although omnicall.roles names"
                    + " streams (was the Topology bean found? see StreamsRoleSwitch)");
        }
        bind(metrics, context.registry());
        streams = s;
        long deadline = System.nanoTime() + RUNNING_TIMEOUT.toNanos();
        while (s.state() != KafkaStreams.State.RUNNING && System.nanoTime() < deadline
                && (s.state() == KafkaStreams.State.CREATED || s.state().isRunningOrRebalancing())) {
            Thread.sleep(50);
        }
        if (s.state() != KafkaStreams.State.RUNNING) {
            LOG.warnf("streams role not RUNNING after %d s (state %s); carrying on, readiness stays DOWN until it is",
                    RUNNING_TIMEOUT.toSeconds(), s.state());
        }
        // The client's own meters (kafka_stream_*), bound once it runs, when its tasks, stores and connections exist.
        // Bound when the extension created the client (quarkus.micrometer.binder.kafka.enabled, now off), all but the
        // client's and threads' came a minute later at the binder's first refresh: hundreds of meters registered at
        // once, and the JIT compiling that code, in the idle app's first minute (issue 16). It still refreshes every
        // minute for meters that come later.
        KafkaStreamsMetrics meters = new KafkaStreamsMetrics(s);
        meters.bindTo(context.registry());
        clientMeters = meters;
    }

    /** The topology's own counters, read at scrape time: {@code omnicall_streams_<name>_total}. */
    private static void bind(TopologyMetrics metrics, MeterRegistry registry) {
        for (String name : COUNTERS) {
            FunctionCounter.builder("omnicall.streams." + name, metrics, m -> m.get(name))
                    .description("conversation topology: " + name.replace('_', ' ')).register(registry);
        }
    }

    @Override
    public RoleStatus status() {
        KafkaStreams s = streams;
        if (s == null) {
            return RoleStatus.of(RoleStatus.State.STARTING, "waiting for the Kafka Streams extension's client");
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

    /**
     * Closes the client now, leaving the consumer group (a restarted instance gets the partitions at once instead of
     * after the session timeout). The extension closes it too, on its own shutdown observer; that one runs after the
     * boot sequence's, which stops the embedded broker, and a Streams client closing after its broker waits for it.
     */
    @Override
    public void close() {
        closing = true;
        KafkaStreamsMetrics meters = clientMeters;
        if (meters != null) {
            meters.close();
        }
        KafkaStreams s = streams;
        if (s != null) {
            s.close(new KafkaStreams.CloseOptions().leaveGroup(true).timeout(Duration.ofSeconds(10)));
        }
    }
}
