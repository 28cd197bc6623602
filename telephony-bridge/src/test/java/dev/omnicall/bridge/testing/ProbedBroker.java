package dev.omnicall.bridge.testing;

import dev.omnicall.kafka.EmbeddedKafka;
import dev.omnicall.kafka.KafkaSettings;
import dev.omnicall.kafka.SerdeConfig;

import java.util.ArrayDeque;
import java.util.Deque;

/**
 * One broker-backed test class's world: a real KRaft broker with every topic created, a {@link KafkaProbe}
 * reading it from the beginning, and whatever else the class hands over with {@link #own} (the bridge under
 * test, its VAD, a producer). {@link #close} shuts the owned things down newest first, then the probe, then
 * the broker, and goes on past a failing one.
 */
public final class ProbedBroker implements AutoCloseable {

    private final EmbeddedKafka kafka;
    private final KafkaProbe probe;
    private final Deque<AutoCloseable> owned = new ArrayDeque<>();

    private ProbedBroker(EmbeddedKafka kafka, KafkaProbe probe) {
        this.kafka = kafka;
        this.probe = probe;
    }

    /** Starts a broker whose topics have {@code partitions} partitions each, creates them, and starts a probe on it. */
    public static ProbedBroker start(int partitions, SerdeConfig serde) {
        EmbeddedKafka kafka = EmbeddedKafka.start(EmbeddedKafka.Options.forTests().withPartitions(partitions));
        try {
            kafka.createTopics();
            return new ProbedBroker(kafka, new KafkaProbe(kafka.settings(), serde));
        } catch (RuntimeException e) {
            kafka.close();
            throw e;
        }
    }

    public EmbeddedKafka kafka() {
        return kafka;
    }

    public KafkaSettings settings() {
        return kafka.settings();
    }

    public KafkaProbe probe() {
        return probe;
    }

    /** Closes {@code resource} with the broker, before the probe and the broker go. */
    public <T extends AutoCloseable> T own(T resource) {
        owned.push(resource);
        return resource;
    }

    @Override
    public void close() {
        RuntimeException failure = null;
        while (!owned.isEmpty()) {
            failure = closeKeeping(owned.pop(), failure);
        }
        failure = closeKeeping(probe, failure);
        failure = closeKeeping(kafka, failure);
        if (failure != null) {
            throw failure;
        }
    }

    private static RuntimeException closeKeeping(AutoCloseable resource, RuntimeException failure) {
        try {
            resource.close();
        } catch (Exception e) {
            RuntimeException wrapped = e instanceof RuntimeException r ? r : new IllegalStateException("close failed: " + resource, e);
            if (failure == null) {
                return wrapped;
            }
            failure.addSuppressed(wrapped);
        }
        return failure;
    }
}
