package dev.omnicall.testbroker;

import dev.omnicall.kafka.KafkaSettings;
import dev.omnicall.kafka.Topics;
import org.apache.kafka.clients.admin.Admin;
import org.testcontainers.kafka.KafkaContainer;
import org.testcontainers.utility.DockerImageName;

import java.time.Duration;
import java.util.Map;

/**
 * Apache Kafka's own image, single node (KRaft), started by Testcontainers, topics created as the embedded broker
 * creates them. The broker settings are the embedded broker's where they change what a test sees.
 */
final class ContainerTestBroker implements TestBroker {

    /** The same release as the project's Kafka jars ({@code kafka.version} in the root pom). */
    static final DockerImageName IMAGE = DockerImageName.parse("apache/kafka:4.1.1");

    private final KafkaContainer container;
    private final int partitions;

    private ContainerTestBroker(KafkaContainer container, int partitions) {
        this.container = container;
        this.partitions = partitions;
    }

    static ContainerTestBroker start(int partitions) {
        KafkaContainer container = startContainer();
        try {
            try (Admin admin = Admin.create(KafkaSettings.of(container.getBootstrapServers()).admin())) {
                Topics.ensureCreated(admin, partitions, (short) 1, Duration.ofSeconds(60));
            }
            return new ContainerTestBroker(container, partitions);
        } catch (RuntimeException e) {
            container.stop();
            throw e;
        }
    }

    /** The container alone, no topic yet: for the app, which creates the topics itself at start-up. */
    static KafkaContainer startContainer() {
        return Docker.inTestcontainersLoader(() -> {
            KafkaContainer container = new KafkaContainer(IMAGE).withEnv(brokerEnv());
            container.start();
            return container;
        });
    }

    /**
     * The embedded broker's settings ({@code EmbeddedKafka}) as the image's environment: {@code KAFKA_A_B} is
     * {@code a.b}: single-replica internal topics, no auto-created topics (a misspelt topic must fail as it does
     * on the embedded broker, so {@code num.partitions} never matters) and no first-rebalance delay (tests join
     * groups often and wait for the assignment).
     */
    static Map<String, String> brokerEnv() {
        return Map.ofEntries(
                Map.entry("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false"),
                Map.entry("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0"),
                Map.entry("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1"),
                Map.entry("KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS", "5"),
                Map.entry("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1"),
                Map.entry("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1"),
                Map.entry("KAFKA_TRANSACTION_STATE_LOG_NUM_PARTITIONS", "5"),
                Map.entry("KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR", "1"),
                Map.entry("KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR", "1"),
                Map.entry("KAFKA_MIN_INSYNC_REPLICAS", "1"));
    }

    @Override
    public BrokerChoice choice() {
        return BrokerChoice.CONTAINER;
    }

    @Override
    public String bootstrapServers() {
        return container.getBootstrapServers();
    }

    @Override
    public int partitions() {
        return partitions;
    }

    @Override
    public void close() {
        container.stop();
    }

    @Override
    public String toString() {
        return IMAGE + " container at " + bootstrapServers();
    }
}
