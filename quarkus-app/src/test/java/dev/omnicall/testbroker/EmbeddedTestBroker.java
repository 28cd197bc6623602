package dev.omnicall.testbroker;

import dev.omnicall.kafka.EmbeddedKafka;

import java.nio.file.Path;

/** The project's own KRaft broker in the test JVM, on free ports, topics created: the default. */
final class EmbeddedTestBroker implements TestBroker {

    private final EmbeddedKafka kafka;
    private final int partitions;

    private EmbeddedTestBroker(EmbeddedKafka kafka, int partitions) {
        this.kafka = kafka;
        this.partitions = partitions;
    }

    static EmbeddedTestBroker start(Path dataDir, int partitions) {
        EmbeddedKafka kafka = EmbeddedKafka.start(new EmbeddedKafka.Options(dataDir, 0, 0, partitions));
        try {
            kafka.createTopics();
        } catch (RuntimeException e) {
            kafka.close();
            throw e;
        }
        return new EmbeddedTestBroker(kafka, partitions);
    }

    @Override
    public BrokerChoice choice() {
        return BrokerChoice.EMBEDDED;
    }

    @Override
    public String bootstrapServers() {
        return kafka.bootstrapServers();
    }

    @Override
    public int partitions() {
        return partitions;
    }

    @Override
    public void close() {
        kafka.close();
    }

    @Override
    public String toString() {
        return "embedded broker at " + bootstrapServers();
    }
}
