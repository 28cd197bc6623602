package dev.omnicall.reliability.support;

import dev.omnicall.kafka.EmbeddedKafka;
import dev.omnicall.kafka.KafkaSettings;
import org.apache.kafka.storage.internals.checkpoint.CleanShutdownFileHandler;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The real embedded KRaft broker on fixed ports and a fixed data directory, so it can be stopped and started
 * again under live clients (they reconnect to the same address and find their data).
 */
public final class Broker implements AutoCloseable {

    private final Path dataDir;
    private final int partitions;
    private int brokerPort;
    private int controllerPort;
    private EmbeddedKafka kafka;

    private Broker(Path dataDir, int partitions) {
        this.dataDir = dataDir;
        this.partitions = partitions;
    }

    /** Starts a broker with free ports (kept for restarts) and creates every pipeline topic. */
    public static Broker start(Path dataDir, int partitions) {
        Broker b = new Broker(dataDir, partitions);
        b.kafka = EmbeddedKafka.start(new EmbeddedKafka.Options(dataDir, 0, 0, partitions));
        b.brokerPort = b.kafka.brokerPort();
        b.controllerPort = b.kafka.controllerPort();
        b.kafka.createTopics();
        return b;
    }

    public String bootstrapServers() {
        return "127.0.0.1:" + brokerPort;
    }

    public KafkaSettings settings() {
        return KafkaSettings.of(bootstrapServers());
    }

    public int partitions() {
        return partitions;
    }

    /** Stops the broker (clean shutdown); the data directory stays. */
    public void stop() {
        if (kafka != null) {
            kafka.close();
            kafka = null;
        }
    }

    /** Starts it again on the same ports and data directory; returns the milliseconds it took. */
    public long startAgain() {
        long t0 = System.nanoTime();
        kafka = EmbeddedKafka.start(new EmbeddedKafka.Options(dataDir, brokerPort, controllerPort, partitions));
        return (System.nanoTime() - t0) / 1_000_000;
    }

    public boolean isRunning() {
        return kafka != null;
    }

    /** Whether the broker's log directory holds Kafka's clean-shutdown marker now. */
    public boolean hasCleanShutdownMarker() {
        return hasCleanShutdownMarker(dataDir);
    }

    /**
     * Whether Kafka's clean-shutdown marker is in the log directory {@link EmbeddedKafka} keeps under
     * {@code dataDir}: written by a clean stop, deleted at start-up, absent after a crash (the next start then
     * recovers the logs).
     */
    public static boolean hasCleanShutdownMarker(Path dataDir) {
        return Files.exists(dataDir.resolve("logs").resolve(CleanShutdownFileHandler.CLEAN_SHUTDOWN_FILE_NAME));
    }

    @Override
    public void close() {
        stop();
    }
}
