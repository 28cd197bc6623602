package dev.omnicall.reliability.support;

import dev.omnicall.bridge.testing.FreePorts;
import dev.omnicall.kafka.KafkaSettings;
import dev.omnicall.reliability.proc.BrokerMain;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * The real embedded KRaft broker in a JVM of its own ({@link BrokerMain}) on fixed ports and a fixed data
 * directory, so a test can kill it with SIGKILL (no shutdown, no flush, no clean-shutdown marker) and start a
 * new process on the same address that recovers the logs. {@link Broker} is the in-JVM, clean-stop sibling.
 */
public final class BrokerProcess implements AutoCloseable {

    private static final Duration READY = Duration.ofSeconds(120);

    private final Path dataDir;
    private final Path logDir;
    private final int partitions;
    private final int brokerPort;
    private final int controllerPort;
    private ChildJvm jvm;
    private String readyLine;
    private int starts;
    private long firstStartMs;

    private BrokerProcess(Path dataDir, Path logDir, int partitions, int brokerPort, int controllerPort) {
        this.dataDir = dataDir;
        this.logDir = logDir;
        this.partitions = partitions;
        this.brokerPort = brokerPort;
        this.controllerPort = controllerPort;
    }

    /** Starts a broker process on two free ports (kept for restarts) and creates every pipeline topic. */
    public static BrokerProcess start(Path dataDir, int partitions, Path logDir) throws IOException {
        int broker = FreePorts.udpAndTcp();
        int controller = FreePorts.udpAndTcp();
        while (controller == broker) {
            controller = FreePorts.udpAndTcp();
        }
        BrokerProcess b = new BrokerProcess(dataDir, logDir, partitions, broker, controller);
        b.firstStartMs = b.launch(true);
        return b;
    }

    private long launch(boolean createTopics) throws IOException {
        long t0 = System.nanoTime();
        starts++;
        jvm = ChildJvm.start("broker-" + starts, BrokerMain.class, List.of(),
                List.of("data-dir=" + dataDir, "broker-port=" + brokerPort, "controller-port=" + controllerPort,
                        "partitions=" + partitions, "create-topics=" + createTopics), logDir);
        try {
            readyLine = jvm.awaitLine(l -> l.startsWith("READY broker"), READY);
        } catch (RuntimeException | AssertionError notReady) {
            // a first start that fails never reaches the test's keep(): stop the process here, or it outlives the test
            jvm.close();
            throw notReady;
        }
        return Waits.msSince(t0);
    }

    public String bootstrapServers() {
        return "127.0.0.1:" + brokerPort;
    }

    public KafkaSettings settings() {
        return KafkaSettings.of(bootstrapServers());
    }

    /** SIGKILL of the broker process; returns the milliseconds until it was gone. */
    public long kill9() throws InterruptedException {
        long t0 = System.nanoTime();
        jvm.kill9();
        return Waits.msSince(t0);
    }

    /**
     * A new process on the same ports and data directory; returns the milliseconds from launch until it
     * answered (JVM start, log recovery, broker start-up).
     */
    public long startAgain() throws IOException {
        if (jvm != null && jvm.isAlive()) {
            throw new IllegalStateException("the broker process " + jvm + " is still running");
        }
        return launch(false);
    }

    /** Milliseconds the first process took from launch until it answered (and its topics existed). */
    public long firstStartMs() {
        return firstStartMs;
    }

    /** The current process's {@code READY broker ...} line. */
    public String readyLine() {
        return readyLine;
    }

    /** The current process (its output: Kafka's log-loading lines). */
    public ChildJvm jvm() {
        return jvm;
    }

    /** Whether the broker's log directory holds Kafka's clean-shutdown marker now. */
    public boolean hasCleanShutdownMarker() {
        return Broker.hasCleanShutdownMarker(dataDir);
    }

    @Override
    public void close() {
        if (jvm != null) {
            jvm.close();
        }
    }
}
