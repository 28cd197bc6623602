package dev.omnicall.topologies;

import dev.omnicall.kafka.KafkaSettings;
import dev.omnicall.kafka.SerdeConfig;
import org.apache.kafka.common.errors.AuthenticationException;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;

/**
 * Runs the conversation topology: the streams role, framework-free (the reliability tests and benchmarks create one,
 * call {@link #start()} after the topics exist, and {@link #close()} at the end). The Quarkus app runs the same
 * topology with the same {@link StreamsSettings} on Quarkus' Kafka Streams extension, and {@link #onThreadFailure} as its
 * uncaught-exception handler.
 */
public final class StreamsRole implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(StreamsRole.class);

    private final KafkaStreams streams;
    private final TopologyMetrics metrics;

    public StreamsRole(KafkaSettings kafka, SerdeConfig serdes, StreamsSettings settings, ConversationConfig config) {
        this.metrics = new TopologyMetrics();
        this.streams = new KafkaStreams(ConversationTopology.build(config, serdes, metrics), settings.toProperties(kafka));
        streams.setUncaughtExceptionHandler(StreamsRole::onThreadFailure);
    }

    /**
     * A failing stream thread is replaced rather than leaving the role dead; the error is logged. Except when
     * Kafka refused the login (wrong SASL password, untrusted broker certificate): a new thread would be
     * refused the same way, so replacing it would loop for ever while the role looks healthy. Then the role
     * stops (state ERROR, so {@link #isHealthy()} turns false) with one line that names the cause.
     */
    public static StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse onThreadFailure(Throwable e) {
        for (Throwable c = e; c != null; c = c.getCause()) {
            if (c instanceof AuthenticationException) {
                LOG.error("Kafka refused the streams role's connection ({}: {}); a new stream thread would be refused"
                                + " too, so the role stops. Check kafka.security.protocol, kafka.sasl.mechanism,"
                                + " kafka.sasl.jaas.config and kafka.ssl.truststore.*",
                        c.getClass().getSimpleName(), c.getMessage());
                return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
            }
        }
        LOG.error("stream thread failed; replacing it", e);
        return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.REPLACE_THREAD;
    }

    public void start() {
        streams.start();
    }

    public KafkaStreams.State state() {
        return streams.state();
    }

    /** Running, or rebalancing on its way to running. */
    public boolean isHealthy() {
        KafkaStreams.State s = streams.state();
        return s == KafkaStreams.State.RUNNING || s == KafkaStreams.State.REBALANCING || s == KafkaStreams.State.CREATED;
    }

    public boolean isRunning() {
        return streams.state() == KafkaStreams.State.RUNNING;
    }

    public TopologyMetrics metrics() {
        return metrics;
    }

    public KafkaStreams streams() {
        return streams;
    }

    /**
     * Stops the role and leaves the consumer group, so a restarted instance is assigned the partitions at
     * once instead of waiting out the old member's session timeout.
     */
    @Override
    public void close() {
        streams.close(new KafkaStreams.CloseOptions().leaveGroup(true).timeout(Duration.ofSeconds(10)));
    }
}
