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
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A real single-node Kafka broker (KRaft, broker and controller in one process) started from Kafka's own
 * jars, listening on 127.0.0.1. The zero-setup run and the integration tests use it.
 *
 * <p>Start-up formats the log directory (unless it already holds a cluster, so a restart keeps the data),
 * starts the server and waits until an admin client sees the broker. A port already in use is reported as
 * {@link EmbeddedKafkaException} before anything starts; Kafka's own exit and halt calls are turned into
 * exceptions while the broker runs, so a broker failure never kills the host JVM.
 *
 * <p>Clients connect over PLAINTEXT; {@link Options#withSaslSsl} adds a second client listener secured with
 * SASL_SSL and SCRAM-SHA-512 ({@link SaslSslListener}), so the security settings a real cluster needs can be
 * exercised end to end.
 */
public final class EmbeddedKafka implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(EmbeddedKafka.class);
    private static final String LOOPBACK = "127.0.0.1";

    /**
     * @param dataDir        log directory; null for a temporary one removed on close
     * @param brokerPort     client port (PLAINTEXT); 0 picks a free one
     * @param controllerPort KRaft controller port; 0 picks a free one
     * @param partitions     partition count used by {@link #createTopics()}
     * @param saslSsl        an extra client listener secured with SASL_SSL; null for none
     */
    public record Options(Path dataDir, int brokerPort, int controllerPort, int partitions, SaslSslListener saslSsl) {
        public Options {
            if (brokerPort < 0 || brokerPort > 65535 || controllerPort < 0 || controllerPort > 65535) {
                throw new IllegalArgumentException("ports must be in 0..65535, got broker " + brokerPort
                        + " and controller " + controllerPort);
            }
            if (partitions < 1) {
                throw new IllegalArgumentException("partitions must be >= 1, got " + partitions);
            }
        }

        /** PLAINTEXT only, as before the SASL_SSL listener existed. */
        public Options(Path dataDir, int brokerPort, int controllerPort, int partitions) {
            this(dataDir, brokerPort, controllerPort, partitions, null);
        }

        /** Random ports, a temporary directory, 3 partitions: what tests want. */
        public static Options forTests() {
            return new Options(null, 0, 0, 3);
        }

        public Options withPartitions(int n) {
            return new Options(dataDir, brokerPort, controllerPort, n, saslSsl);
        }

        public Options withDataDir(Path dir) {
            return new Options(dir, brokerPort, controllerPort, partitions, saslSsl);
        }

        public Options withPorts(int broker, int controller) {
            return new Options(dataDir, broker, controller, partitions, saslSsl);
        }

        public Options withSaslSsl(SaslSslListener listener) {
            return new Options(dataDir, brokerPort, controllerPort, partitions, listener);
        }
    }

    /**
     * A second client listener, {@code SASL_SSL://127.0.0.1:port}, authenticating with SCRAM-SHA-512 (what
     * Strimzi's KafkaUsers use) over TLS. The PLAINTEXT listener, the controller and inter-broker traffic stay
     * as they are. The SCRAM credentials are written into the cluster metadata when the log directory is
     * formatted (StorageTool {@code --add-scram}), so they exist before the listener accepts a connection; a
     * restart on a formatted directory keeps the credentials it was formatted with.
     *
     * @param port             0 picks a free one
     * @param keystore         PKCS12 keystore with the broker's key and certificate (its chain); the certificate
     *                         must name 127.0.0.1, which clients verify (https endpoint identification)
     * @param keystorePassword the keystore's password, also the key's
     * @param users            SCRAM-SHA-512 users, name to password
     */
    public record SaslSslListener(int port, Path keystore, String keystorePassword, Map<String, String> users) {

        public static final String MECHANISM = "SCRAM-SHA-512";
        /** What StorageTool's credential syntax can carry without quoting. */
        private static final Pattern PLAIN_TOKEN = Pattern.compile("[A-Za-z0-9._@-]+");

        public SaslSslListener {
            if (port < 0 || port > 65535) {
                throw new IllegalArgumentException("the SASL_SSL port must be in 0..65535, got " + port);
            }
            Objects.requireNonNull(keystore, "keystore");
            if (!Files.isReadable(keystore)) {
                throw new IllegalArgumentException("the SASL_SSL keystore " + keystore + " is not a readable file");
            }
            if (keystorePassword == null || keystorePassword.isEmpty()) {
                throw new IllegalArgumentException("the SASL_SSL keystore needs a password");
            }
            if (users == null || users.isEmpty()) {
                throw new IllegalArgumentException("a SASL_SSL listener needs at least one SCRAM user");
            }
            users.forEach((name, password) -> {
                if (name == null || !PLAIN_TOKEN.matcher(name).matches()) {
                    throw new IllegalArgumentException("SCRAM user name '" + name + "' must match " + PLAIN_TOKEN);
                }
                if (password == null || !PLAIN_TOKEN.matcher(password).matches()) {
                    // the password itself is not repeated: it may be a real one with a typo
                    throw new IllegalArgumentException("the SCRAM password of user '" + name + "' must match " + PLAIN_TOKEN);
                }
            });
            users = Map.copyOf(users);
        }

        public SaslSslListener withPort(int p) {
            return new SaslSslListener(p, keystore, keystorePassword, users);
        }

        /** No password in it: options get logged. */
        @Override
        public String toString() {
            return "SaslSslListener[port=" + port + ", keystore=" + keystore + ", mechanism=" + MECHANISM
                    + ", users=" + new TreeSet<>(users.keySet()) + "]";
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
    private final int saslSslPort;
    private final long startupMillis;
    private KafkaRaftServer server;

    private EmbeddedKafka(Options options, Path dataDir, boolean temporaryDir, int brokerPort, int controllerPort,
                          int saslSslPort, KafkaRaftServer server, long startupMillis) {
        this.options = options;
        this.dataDir = dataDir;
        this.temporaryDir = temporaryDir;
        this.brokerPort = brokerPort;
        this.controllerPort = controllerPort;
        this.saslSslPort = saslSslPort;
        this.server = server;
        this.startupMillis = startupMillis;
    }

    public static EmbeddedKafka start(Options options) {
        long t0 = System.nanoTime();
        SaslSslListener saslSsl = options.saslSsl();
        int brokerPort;
        int controllerPort;
        // the ports asked for are checked and the ports asked as 0 found while every one before stays bound: one by
        // one, the OS could hand out the same port twice (CI once got PLAINTEXT and CONTROLLER on one port, and the
        // broker refused to start)
        requireDistinct(options.brokerPort(), options.controllerPort(), saslSsl == null ? -1 : saslSsl.port());
        try (FreePorts free = new FreePorts()) {
            brokerPort = free.take(options.brokerPort(), "broker");
            controllerPort = free.take(options.controllerPort(), "controller");
            if (saslSsl != null) {
                saslSsl = saslSsl.withPort(free.take(saslSsl.port(), "SASL_SSL"));
            }
        }
        int saslSslPort = saslSsl == null ? -1 : saslSsl.port();
        boolean temporary = options.dataDir() == null;
        Path dir;
        try {
            dir = temporary ? Files.createTempDirectory("omnicall-kafka-") : Files.createDirectories(options.dataDir());
        } catch (IOException e) {
            throw new EmbeddedKafkaException("cannot create the broker's log directory " + options.dataDir() + ": " + e.getMessage(), e);
        }
        Properties props = brokerProperties(dir.resolve("logs"), brokerPort, controllerPort, options.partitions());
        if (saslSsl != null) {
            addSaslSslListener(props, saslSsl);
        }
        Exit.setExitProcedure((status, message) -> {
            throw new EmbeddedKafkaException("the embedded broker asked to exit the JVM with status " + status + ": " + message, null);
        });
        Exit.setHaltProcedure((status, message) -> {
            throw new EmbeddedKafkaException("the embedded broker asked to halt the JVM with status " + status + ": " + message, null);
        });
        KafkaRaftServer server = null;
        try {
            format(dir, props, saslSsl);
            server = new KafkaRaftServer(new KafkaConfig(props, false), Time.SYSTEM);
            server.startup();
            EmbeddedKafka kafka = new EmbeddedKafka(options, dir, temporary, brokerPort, controllerPort, saslSslPort,
                    server, 0);
            kafka.awaitReady(Duration.ofSeconds(60));
            long ms = (System.nanoTime() - t0) / 1_000_000;
            LOG.info("embedded Kafka broker ready on {}{} in {} ms (log dir {})", kafka.bootstrapServers(),
                    saslSsl == null ? "" : " and SASL_SSL/" + SaslSslListener.MECHANISM + " " + kafka.saslSslBootstrapServers(),
                    ms, dir);
            return new EmbeddedKafka(options, dir, temporary, brokerPort, controllerPort, saslSslPort, server, ms);
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
        // The controller appends a no-op record to the metadata log every 500 ms by default (KIP-835), so other
        // brokers and controllers can tell a live but quiet quorum from a stalled one. There is no other node here,
        // and each no-op woke the controller, the raft thread and the broker's metadata publishers: an idle app
        // should not work twice a second for nobody (issue 16). 0 turns them off.
        p.put("metadata.max.idle.interval.ms", "0");
        // Thread pools sized for a broker that serves one process's clients, not a cluster's (issue 16). Every
        // request handler polls the request queue with a 300 ms timeout and every network thread selects with one, and
        // in combined mode the controller has pools of the same sizes: Kafka's 8 handlers and 3 network threads per
        // listener made 16 handlers and 6 selectors wake 3 times a second each with no client asking anything. A
        // request wakes a handler at once whatever the pool's size; more than one per core (2 here) buys parallelism
        // only for a handler blocked on the disk, so 2 are kept, and one selector per listener serves a few dozen
        // connections.
        p.put("num.io.threads", "2");
        p.put("num.network.threads", "1");
        return p;
    }

    /**
     * Adds {@code SASL_SSL://127.0.0.1:port} for clients: TLS with the given keystore, SCRAM-SHA-512 only. The
     * listener's settings carry its name as prefix, so the PLAINTEXT listener and the controller are untouched.
     */
    static void addSaslSslListener(Properties p, SaslSslListener l) {
        String name = "SASL_SSL";
        String prefix = "listener.name." + name.toLowerCase(Locale.ROOT) + ".";
        p.put("listeners", p.getProperty("listeners") + "," + name + "://" + LOOPBACK + ":" + l.port());
        p.put("advertised.listeners", p.getProperty("advertised.listeners") + "," + name + "://" + LOOPBACK + ":" + l.port());
        p.put("listener.security.protocol.map", p.getProperty("listener.security.protocol.map") + "," + name + ":SASL_SSL");
        p.put(prefix + "sasl.enabled.mechanisms", SaslSslListener.MECHANISM);
        // The server side of SCRAM needs a login module but no credentials of its own: users live in the metadata.
        p.put(prefix + SaslSslListener.MECHANISM.toLowerCase(Locale.ROOT) + ".sasl.jaas.config",
                "org.apache.kafka.common.security.scram.ScramLoginModule required;");
        p.put(prefix + "ssl.keystore.type", "PKCS12");
        p.put(prefix + "ssl.keystore.location", l.keystore().toAbsolutePath().toString());
        p.put(prefix + "ssl.keystore.password", l.keystorePassword());
        p.put(prefix + "ssl.key.password", l.keystorePassword());
        p.put(prefix + "ssl.client.auth", "none");
    }

    private static void format(Path dir, Properties props, SaslSslListener saslSsl) {
        Path config = dir.resolve("server.properties");
        try (Writer w = Files.newBufferedWriter(config, StandardCharsets.UTF_8)) {
            props.store(w, "embedded OmniCall broker");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        List<String> args = new ArrayList<>(List.of("format", "--cluster-id", clusterId(dir), "--config", config.toString(),
                "--ignore-formatted"));
        if (saslSsl != null) {
            new TreeMap<>(saslSsl.users()).forEach((name, password) -> args.addAll(List.of("--add-scram",
                    SaslSslListener.MECHANISM + "=[name=" + name + ",password=" + password + "]")));
        }
        int rc = StorageTool$.MODULE$.execute(args.toArray(String[]::new), new PrintStream(out, true, StandardCharsets.UTF_8));
        if (rc != 0) {
            String said = out.toString(StandardCharsets.UTF_8).trim();
            if (saslSsl != null) {
                for (String password : saslSsl.users().values()) {
                    said = said.replace(password, "[redacted]");
                }
            }
            throw new EmbeddedKafkaException("formatting the broker's log directory failed (" + rc + "): " + said, null);
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

    /**
     * The loopback ports of one broker's listeners: each one taken stays bound until {@link #close}, so a port asked
     * as 0 is never one taken before (the OS would otherwise be free to hand it out again).
     */
    static final class FreePorts implements AutoCloseable {
        private final List<ServerSocket> held = new ArrayList<>();

        /** A free port the OS picks. */
        int next() {
            return take(0, "a");
        }

        /** port, checked free (0: one the OS picks); held until close. */
        int take(int port, String what) {
            ServerSocket s = null;
            try {
                s = new ServerSocket();
                s.setReuseAddress(true); // as the broker binds it: a restart on a fixed port is not refused by TIME_WAIT
                s.bind(new InetSocketAddress(InetAddress.getByName(LOOPBACK), port));
                held.add(s);
                return s.getLocalPort();
            } catch (IOException e) {
                closeQuietly(s);
                if (port == 0) {
                    throw new EmbeddedKafkaException("cannot find a free port on " + LOOPBACK + ": " + e.getMessage(), e);
                }
                throw new EmbeddedKafkaException("the embedded broker's " + what + " port " + port + " on " + LOOPBACK
                        + " is already in use (another Kafka or OmniCall running?). Stop it, choose another port,"
                        + " or set kafka.bootstrap.servers to use an existing cluster.", e);
            }
        }

        @Override
        public void close() {
            held.forEach(FreePorts::closeQuietly);
            held.clear();
        }

        private static void closeQuietly(ServerSocket s) {
            if (s == null) {
                return;
            }
            try {
                s.close();
            } catch (IOException e) {
                LOG.debug("closing a port probe: {}", e.toString());
            }
        }
    }

    /** Two listeners asked for on one port: a clear error, not Kafka's "two listeners on the same port" at start. */
    private static void requireDistinct(int broker, int controller, int saslSsl) {
        boolean clash = broker != 0 && (broker == controller || broker == saslSsl)
                || controller != 0 && controller == saslSsl;
        if (clash) {
            throw new EmbeddedKafkaException("the embedded broker's listeners need distinct ports, got broker " + broker
                    + ", controller " + controller + (saslSsl < 0 ? "" : ", SASL_SSL " + saslSsl), null);
        }
    }

    public String bootstrapServers() {
        return LOOPBACK + ":" + brokerPort;
    }

    /** The SASL_SSL client listener's {@code host:port}; fails when the broker was started without one. */
    public String saslSslBootstrapServers() {
        if (saslSslPort < 0) {
            throw new IllegalStateException("this broker has no SASL_SSL listener (Options.withSaslSsl)");
        }
        return LOOPBACK + ":" + saslSslPort;
    }

    /** The SASL_SSL listener's port, or -1 when there is none. */
    public int saslSslPort() {
        return saslSslPort;
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
