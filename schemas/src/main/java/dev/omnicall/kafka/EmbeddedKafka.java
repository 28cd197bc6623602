package dev.omnicall.kafka;

import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import kafka.tools.StorageTool$;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.utils.Exit;
import org.apache.kafka.common.utils.Time;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.Properties;
import java.util.stream.Stream;

/**
 * A real single-node Kafka broker (KRaft, broker and controller in one process) started from Kafka's own
 * jars, listening on 127.0.0.1. The zero-setup run and the integration tests use it.
 *
 * <p>Start-up formats the log directory (unless it already holds a cluster, so a restart keeps the data),
 * starts the server and waits until an admin client sees the broker. A port already in use is reported as
 * {@link EmbeddedKafkaException} before anything starts; Kafka's own exit and halt calls are turned into
 * exceptions while the broker runs, so a broker failure never kills the host JVM.
 */
public final class EmbeddedKafka implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(EmbeddedKafka.class);
    private static final String LOOPBACK = "127.0.0.1";

    /**
     * @param dataDir        log directory; null for a temporary one removed on close
     * @param brokerPort     client port; 0 picks a free one
     * @param controllerPort KRaft controller port; 0 picks a free one
     * @param partitions     partition count used by {@link #createTopics()}
     */
    public record Options(Path dataDir, int brokerPort, int controllerPort, int partitions) {
        public Options {
            if (brokerPort < 0 || brokerPort > 65535 || controllerPort < 0 || controllerPort > 65535) {
                throw new IllegalArgumentException("ports must be in 0..65535, got broker " + brokerPort
                        + " and controller " + controllerPort);
            }
            if (partitions < 1) {
                throw new IllegalArgumentException("partitions must be >= 1, got " + partitions);
            }
        }

        /** Random ports, a temporary directory, 3 partitions: what tests want. */
        public static Options forTests() {
            return new Options(null, 0, 0, 3);
        }

        public Options withPartitions(int n) {
            return new Options(dataDir, brokerPort, controllerPort, n);
        }

        public Options withDataDir(Path dir) {
            return new Options(dir, brokerPort, controllerPort, partitions);
        }

        public Options withPorts(int broker, int controller) {
            return new Options(dataDir, broker, controller, partitions);
        }
    }

    /** The broker could not start; the message says why in words. */
    public static final class EmbeddedKafkaException extends RuntimeException {
        public EmbeddedKafkaException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    private final Options options;
    private final Path dataDir;
    private final boolean temporaryDir;
    private final int brokerPort;
    private final int controllerPort;
    private final long startupMillis;
    private KafkaRaftServer server;

    private EmbeddedKafka(Options options, Path dataDir, boolean temporaryDir, int brokerPort, int controllerPort,
                          KafkaRaftServer server, long startupMillis) {
        this.options = options;
        this.dataDir = dataDir;
        this.temporaryDir = temporaryDir;
        this.brokerPort = brokerPort;
        this.controllerPort = controllerPort;
        this.server = server;
        this.startupMillis = startupMillis;
    }

    public static EmbeddedKafka start(Options options) {
        long t0 = System.nanoTime();
        int brokerPort = options.brokerPort() == 0 ? freePort() : requireFree(options.brokerPort(), "broker");
        int controllerPort = options.controllerPort() == 0 ? freePort() : requireFree(options.controllerPort(), "controller");
        boolean temporary = options.dataDir() == null;
        Path dir;
        try {
            dir = temporary ? Files.createTempDirectory("omnicall-kafka-") : Files.createDirectories(options.dataDir());
        } catch (IOException e) {
            throw new EmbeddedKafkaException("cannot create the broker's log directory " + options.dataDir() + ": " + e.getMessage(), e);
        }
        Properties props = brokerProperties(dir.resolve("logs"), brokerPort, controllerPort, options.partitions());
        Exit.setExitProcedure((status, message) -> {
            throw new EmbeddedKafkaException("the embedded broker asked to exit the JVM with status " + status + ": " + message, null);
        });
        Exit.setHaltProcedure((status, message) -> {
            throw new EmbeddedKafkaException("the embedded broker asked to halt the JVM with status " + status + ": " + message, null);
        });
        KafkaRaftServer server = null;
        try {
            format(dir, props);
            server = new KafkaRaftServer(new KafkaConfig(props, false), Time.SYSTEM);
            server.startup();
            EmbeddedKafka kafka = new EmbeddedKafka(options, dir, temporary, brokerPort, controllerPort, server,
                    0);
            kafka.awaitReady(Duration.ofSeconds(60));
            long ms = (System.nanoTime() - t0) / 1_000_000;
            LOG.info("embedded Kafka broker ready on {} in {} ms (log dir {})", kafka.bootstrapServers(), ms, dir);
            return new EmbeddedKafka(options, dir, temporary, brokerPort, controllerPort, server, ms);
        } catch (RuntimeException e) {
            if (server != null) {
                try {
                    server.shutdown();
                } catch (RuntimeException suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            Exit.resetExitProcedure();
            Exit.resetHaltProcedure();
            if (e instanceof EmbeddedKafkaException) {
                throw e;
            }
            throw new EmbeddedKafkaException("the embedded broker failed to start: " + e.getMessage(), e);
        }
    }

    static Properties brokerProperties(Path logDir, int brokerPort, int controllerPort, int partitions) {
        Properties p = new Properties();
        p.put("process.roles", "broker,controller");
        p.put("node.id", "1");
        p.put("controller.quorum.voters", "1@" + LOOPBACK + ":" + controllerPort);
        p.put("listeners", "PLAINTEXT://" + LOOPBACK + ":" + brokerPort + ",CONTROLLER://" + LOOPBACK + ":" + controllerPort);
        p.put("advertised.listeners", "PLAINTEXT://" + LOOPBACK + ":" + brokerPort);
        p.put("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT");
        p.put("controller.listener.names", "CONTROLLER");
        p.put("inter.broker.listener.name", "PLAINTEXT");
        p.put("log.dirs", logDir.toString());
        p.put("num.partitions", Integer.toString(partitions));
        // One node: every internal topic has one replica, and few partitions so first use is quick.
        p.put("offsets.topic.replication.factor", "1");
        p.put("offsets.topic.num.partitions", "5");
        p.put("transaction.state.log.replication.factor", "1");
        p.put("transaction.state.log.min.isr", "1");
        p.put("transaction.state.log.num.partitions", "5");
        p.put("share.coordinator.state.topic.replication.factor", "1");
        p.put("share.coordinator.state.topic.min.isr", "1");
        p.put("min.insync.replicas", "1");
        p.put("group.initial.rebalance.delay.ms", "0");
        // Topics are created explicitly (Topics.ensureCreated): a misspelt topic must fail, not appear.
        p.put("auto.create.topics.enable", "false");
        return p;
    }

    private static void format(Path dir, Properties props) {
        Path config = dir.resolve("server.properties");
        try (Writer w = Files.newBufferedWriter(config, StandardCharsets.UTF_8)) {
            props.store(w, "embedded OmniCall broker");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int rc = StorageTool$.MODULE$.execute(new String[]{"format", "--cluster-id", clusterId(dir),
                "--config", config.toString(), "--ignore-formatted"}, new PrintStream(out, true, StandardCharsets.UTF_8));
        if (rc != 0) {
            throw new EmbeddedKafkaException("formatting the broker's log directory failed (" + rc + "): "
                    + out.toString(StandardCharsets.UTF_8).trim(), null);
        }
    }

    /** The cluster id is kept beside the logs: a restart on the same directory must present the same id. */
    private static String clusterId(Path dir) {
        Path file = dir.resolve("cluster.id");
        try {
            if (Files.exists(file)) {
                return Files.readString(file, StandardCharsets.UTF_8).trim();
            }
            String id = Uuid.randomUuid().toString();
            Files.writeString(file, id, StandardCharsets.UTF_8);
            return id;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void awaitReady(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        RuntimeException last = null;
        try (Admin admin = Admin.create(KafkaSettings.of(bootstrapServers()).admin())) {
            while (System.nanoTime() < deadline) {
                try {
                    if (!admin.describeCluster().nodes().get().isEmpty()) {
                        return;
                    }
                } catch (Exception e) {
                    last = new RuntimeException(e);
                }
                sleep(50);
            }
        }
        throw new EmbeddedKafkaException("the embedded broker did not answer within " + timeout.toSeconds() + " s", last);
    }

    private static int freePort() {
        try (ServerSocket s = new ServerSocket(0, 0, InetAddress.getByName(LOOPBACK))) {
            s.setReuseAddress(true);
            return s.getLocalPort();
        } catch (IOException e) {
            throw new EmbeddedKafkaException("cannot find a free port on " + LOOPBACK + ": " + e.getMessage(), e);
        }
    }

    private static int requireFree(int port, String what) {
        try (ServerSocket s = new ServerSocket()) {
            s.setReuseAddress(true);
            s.bind(new InetSocketAddress(InetAddress.getByName(LOOPBACK), port));
            return port;
        } catch (IOException e) {
            throw new EmbeddedKafkaException("the embedded broker's " + what + " port " + port + " on " + LOOPBACK
                    + " is already in use (another Kafka or OmniCall running?). Stop it, choose another port,"
                    + " or set kafka.bootstrap.servers to use an existing cluster.", e);
        }
    }

    public String bootstrapServers() {
        return LOOPBACK + ":" + brokerPort;
    }

    public int brokerPort() {
        return brokerPort;
    }

    public int controllerPort() {
        return controllerPort;
    }

    public Path dataDir() {
        return dataDir;
    }

    /** Milliseconds from {@link #start} until the broker answered. */
    public long startupMillis() {
        return startupMillis;
    }

    public KafkaSettings settings() {
        return KafkaSettings.of(bootstrapServers());
    }

    /** Creates every pipeline topic with the configured partition count. */
    public void createTopics() {
        try (Admin admin = Admin.create(settings().admin())) {
            Topics.ensureCreated(admin, options.partitions(), (short) 1, Duration.ofSeconds(30));
        }
    }

    public boolean isRunning() {
        return server != null;
    }

    /** Stops the broker; a temporary log directory is deleted. Safe to call twice. */
    @Override
    public synchronized void close() {
        if (server == null) {
            return;
        }
        try {
            server.shutdown();
            server.awaitShutdown();
        } finally {
            server = null;
            Exit.resetExitProcedure();
            Exit.resetHaltProcedure();
            if (temporaryDir) {
                deleteRecursively(dataDir);
            }
        }
        LOG.info("embedded Kafka broker on port {} stopped", brokerPort);
    }

    private static void deleteRecursively(Path dir) {
        try (Stream<Path> paths = Files.walk(dir)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            LOG.warn("could not delete {}: {}", dir, e.getMessage());
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new EmbeddedKafkaException("interrupted while waiting for the broker", e);
        }
    }
}
