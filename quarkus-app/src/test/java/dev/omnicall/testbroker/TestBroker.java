package dev.omnicall.testbroker;

import dev.omnicall.kafka.KafkaSettings;
import org.junit.jupiter.api.Assumptions;

import java.nio.file.Path;

/**
 * The broker a broker-backed integration test runs against, with every pipeline topic created: the embedded
 * broker by default, an {@code apache/kafka} container with {@code -Dit.kafka=container} ({@link BrokerChoice}).
 * Tests that stop, kill or restart the broker on purpose need the embedded one's handles and do not use this.
 */
public interface TestBroker extends AutoCloseable {

    /**
     * Starts the broker {@code -Dit.kafka} chooses, with every pipeline topic at {@code partitions}. Called inside a
     * test (or a {@code @BeforeAll}), it skips the test through a JUnit assumption, with the reason, when the
     * container is asked for and no Docker engine is reachable.
     *
     * @param dataDir the embedded broker's log directory (a container keeps its log inside itself)
     */
    static TestBroker start(Path dataDir, int partitions) {
        BrokerChoice choice = BrokerChoice.current();
        choice.skipReason(Docker::available).ifPresent(reason -> Assumptions.abort(reason));
        return switch (choice) {
            case EMBEDDED -> EmbeddedTestBroker.start(dataDir, partitions);
            case CONTAINER -> ContainerTestBroker.start(partitions);
        };
    }

    BrokerChoice choice();

    String bootstrapServers();

    int partitions();

    default KafkaSettings settings() {
        return KafkaSettings.of(bootstrapServers());
    }

    /** Stops the broker; nothing of it is kept. */
    @Override
    void close();
}
