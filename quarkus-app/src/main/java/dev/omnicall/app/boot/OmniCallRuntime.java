package dev.omnicall.app.boot;

import dev.omnicall.app.config.ConfigCheck;
import dev.omnicall.app.config.KafkaProperties;
import dev.omnicall.app.config.OmniCallConfig;
import dev.omnicall.app.config.SerdeProperties;
import dev.omnicall.app.config.Role;
import dev.omnicall.app.observe.DashboardState;
import dev.omnicall.app.observe.PipelineMetrics;
import dev.omnicall.app.observe.PipelineObserver;
import dev.omnicall.app.roles.RoleContext;
import dev.omnicall.app.roles.RoleFactory;
import dev.omnicall.app.roles.RoleService;
import dev.omnicall.app.roles.RoleStatus;
import dev.omnicall.app.web.DashboardStream;
import dev.omnicall.kafka.DeadLetters;
import dev.omnicall.kafka.EmbeddedKafka;
import dev.omnicall.kafka.KafkaSettings;
import dev.omnicall.kafka.SerdeConfig;
import dev.omnicall.kafka.Topics;
import dev.omnicall.topologies.TranscriptRedactor;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.Quarkus;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.enterprise.inject.spi.ObserverMethod;
import jakarta.inject.Inject;
import org.apache.kafka.clients.admin.Admin;
import org.eclipse.microprofile.config.Config;
import org.jboss.logging.Logger;


import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;

/**
 * The ordered start-up and shutdown of one OmniCall process:
 *
 * <ol>
 *   <li>check the configuration (every problem at once; the process exits on any)</li>
 *   <li>Kafka: the configured cluster, or, with no {@code kafka.bootstrap.servers}, the embedded broker</li>
 *   <li>topics: created when missing, partition counts checked</li>
 *   <li>model: the configured checkpoint, else the demo model, else the tiny checkpoint of
 *       {@code omnicall.model.family} written or reused (worker role; {@link ModelChoice}, {@link ModelCheckpoint})</li>
 *   <li>the dashboard/metrics consumer</li>
 *   <li>the selected roles: streams, then worker, then bridge (calls are accepted last)</li>
 * </ol>
 *
 * The streams role's client is Quarkus' Kafka Streams extension's, created when the extension observes the start-up
 * event. On the embedded broker {@link #holdStartupUntilTopicsExist} keeps that event from reaching it until steps 2-3
 * are done, so it connects to a running broker; on a configured cluster the extension's own wait for its input topics
 * orders it after step 3.
 *
 * Steps 2-6 run on one boot thread, so the HTTP server (health, dashboard) answers while a broker
 * starts or a large model loads; readiness stays DOWN until the roles run. Shutdown closes everything in
 * reverse order, the broker last, after every client that talks to it.
 */
@ApplicationScoped
public class OmniCallRuntime {

    private static final Logger LOG = Logger.getLogger("dev.omnicall.app");

    public enum Phase { STARTING, RUNNING, FAILED, STOPPING, STOPPED }

    @Inject
    OmniCallConfig config;
    @Inject
    Config rawConfig;
    @Inject
    MeterRegistry registry;
    @Inject
    RoleFactory roleFactory;
    @Inject
    DashboardStream stream;
    @Inject
    Banner banner;

    private final Deque<Closer> started = new ConcurrentLinkedDeque<>();
    private final List<BootStep> steps = Collections.synchronizedList(new ArrayList<>());
    private final Map<Role, RoleService> roles = Collections.synchronizedMap(new LinkedHashMap<>());
    private volatile Phase phase = Phase.STARTING;
    private volatile String failure;
    private volatile Thread bootThread;
    private volatile KafkaSettings kafka;
    private volatile EmbeddedKafka embedded;
    private volatile PipelineObserver observer;
    private volatile PipelineMetrics metrics;
    private volatile DashboardState dashboard;
    private volatile ModelChoice model;
    private long bootStartNanos;
    /** Open once the broker is up and the topics exist, or start-up failed (see {@link #holdStartupUntilTopicsExist}). */
    private final CountDownLatch kafkaReady = new CountDownLatch(1);
    /** Longer than a slow embedded broker start plus topic creation (60 s) on a loaded box. */
    private static final long KAFKA_READY_WAIT_SECONDS = 120;


    private record Closer(String name, AutoCloseable resource) {
    }

    void onStart(@Observes @Priority(10) StartupEvent event) {
        bootStartNanos = System.nanoTime();
        try {
            ConfigCheck.validate(config);
        } catch (ConfigCheck.InvalidConfigException e) {
            fail(e.getMessage(), 2);
            return;
        }
        Map<String, String> kafkaProps = KafkaProperties.from(rawConfig);
        if (config.roles().contains(Role.STREAMS) && KafkaProperties.bootstrap(rawConfig).isEmpty()
                && config.kafka().embedded().port() == 0) {
            fail("omnicall.kafka.embedded.port=0 lets the embedded broker pick its port at start-up, but the streams role's"
                    + " Kafka Streams extension reads the broker's address from its configuration"
                    + " (quarkus.kafka-streams.bootstrap-servers): give the embedded broker a port", 2);
            return;
        }
        LOG.infof("OmniCall starting, roles %s", config.roles().stream().map(Role::key).sorted().toList());
        ConfigSummary.lines(config, kafkaProps).forEach(l -> LOG.info("config " + l));
        model = ModelChoice.resolve(config.model().dir(), config.model().encoderPaddedSeconds(), config.model().family(),
                Path.of(""));
        metrics = new PipelineMetrics(registry);
        dashboard = new DashboardState(config.dashboard().maxCalls());
        for (Role role : List.of(Role.STREAMS, Role.WORKER, Role.BRIDGE)) {
            if (config.roles().contains(role)) {
                roles.put(role, roleFactory.create(role, model.dir(), model.encoderPaddedSeconds()));
            }
        }
        Thread t = new Thread(() -> boot(kafkaProps), "omnicall-boot");
        t.setDaemon(true);
        bootThread = t;
        t.start();
    }

    private void boot(Map<String, String> kafkaProps) {
        try {
            SerdeConfig serde = SerdeProperties.serdeConfig(config, rawConfig);
            kafka = connectKafka(kafkaProps);
            createTopics();
            kafkaReady.countDown();
            prepareModel();
            startObserver(serde);
            RoleContext context = new RoleContext(config, kafka, serde, registry);
            for (RoleService role : roles.values()) {
                checkInterrupted();
                long t0 = System.nanoTime();
                LOG.infof("role %s: starting", role.role().key());
                started.push(new Closer("role " + role.role().key(), role));
                role.start(context);
                step("role " + role.role().key(), t0, role.status().state() + " " + role.status().detail());
            }
            long total = (System.nanoTime() - bootStartNanos) / 1_000_000;
            steps.add(new BootStep("total", total, "start-up sequence"));
            phase = Phase.RUNNING;
            banner.print(this, total);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            LOG.info("start-up interrupted by shutdown");
        } catch (EmbeddedKafka.EmbeddedKafkaException e) {
            fail("embedded Kafka broker: " + e.getMessage() + " (omnicall.kafka.embedded.port)", 1);
        } catch (Exception e) {
            // One readable line (with causes) for the operator; the stack trace for a developer at DEBUG.
            LOG.debug("start-up failure", e);
            fail("start-up failed: " + DeadLetters.describe(e), 1);
        } finally {
            kafkaReady.countDown();
        }
    }

    /**
     * Observes the start-up event before Quarkus' Kafka Streams extension does (its observer and its {@code @Startup}
     * client have the default priority) and, in the zero-setup run with the streams role, holds it until the boot thread
     * has the embedded broker up and the topics created, or has failed: the extension's client then connects to a
     * running broker instead of logging refused connections meanwhile. The HTTP server opens after the start-up event,
     * so only there (a few seconds); on a configured cluster nothing is held and health answers at once.
     */
    void holdStartupUntilTopicsExist(@Observes @Priority(ObserverMethod.DEFAULT_PRIORITY - 500) StartupEvent event)
            throws InterruptedException {
        if (!config.roles().contains(Role.STREAMS) || KafkaProperties.bootstrap(rawConfig).isPresent()
                || phase != Phase.STARTING) {
            return;
        }
        if (!kafkaReady.await(KAFKA_READY_WAIT_SECONDS, TimeUnit.SECONDS)) {
            LOG.warnf("Kafka and topics not ready after %d s; the Kafka Streams extension starts Streams once its"
                    + " input topics exist", KAFKA_READY_WAIT_SECONDS);
        }
    }

    private KafkaSettings connectKafka(Map<String, String> kafkaProps) {
        long t0 = System.nanoTime();
        if (KafkaProperties.bootstrap(rawConfig).isPresent()) {
            KafkaSettings settings = KafkaSettings.fromProperties(kafkaProps);
            step("kafka", t0, "using " + settings.bootstrapServers());
            return settings;
        }
        var e = config.kafka().embedded();
        LOG.infof("[kafka] no kafka.bootstrap.servers set: starting the embedded single-node KRaft broker"
                + " (log dir %s, port %s) ...", e.dir().map(Object::toString).orElse("temporary"),
                e.port() == 0 ? "any free" : e.port());
        embedded = EmbeddedKafka.start(new EmbeddedKafka.Options(e.dir().orElse(null), e.port(), e.controllerPort(),
                config.kafka().partitions()));
        started.push(new Closer("embedded Kafka broker", embedded));
        Map<String, String> withBootstrap = new HashMap<>(kafkaProps);
        withBootstrap.put(KafkaProperties.BOOTSTRAP, embedded.bootstrapServers());
        step("broker", t0, "embedded broker on " + embedded.bootstrapServers());
        return KafkaSettings.fromProperties(withBootstrap);
    }

    private void createTopics() throws InterruptedException {
        checkInterrupted();
        if (!config.kafka().createTopics()) {
            LOG.info("[topics] omnicall.kafka.create-topics=false: expecting the topics to exist");
            return;
        }
        long t0 = System.nanoTime();
        try (Admin admin = Admin.create(kafka.admin())) {
            Topics.ensureCreated(admin, config.kafka().partitions(), config.kafka().replicationFactor(), Duration.ofSeconds(60));
        }
        step("topics", t0, Topics.all().size() + " topics with " + config.kafka().partitions() + " partitions");
    }

    private void prepareModel() throws InterruptedException, java.io.IOException {
        checkInterrupted();
        if (!config.roles().contains(Role.WORKER)) {
            return;
        }
        long t0 = System.nanoTime();
        step("checkpoint", t0, ModelCheckpoint.prepare(model, config.model().family(), config.model().writeTinyIfMissing(),
                Path.of("")));
    }

    private void startObserver(SerdeConfig serde) throws InterruptedException {
        checkInterrupted();
        if (!config.dashboard().enabled()) {
            return;
        }
        long t0 = System.nanoTime();
        PipelineObserver o = new PipelineObserver(kafka, serde, "omnicall-dashboard-" + config.instanceId(),
                "omnicall-dashboard-" + config.instanceId(), metrics, dashboard, stream::publish,
                config.streams().redactTranscripts() ? TranscriptRedactor::redactText : UnaryOperator.identity());
        started.push(new Closer("dashboard consumer", o));
        observer = o;
        o.start();
        step("dashboard consumer", t0, "watching " + PipelineObserver.WATCHED.size() + " topics");
    }

    private void step(String name, long t0, String detail) {
        long ms = (System.nanoTime() - t0) / 1_000_000;
        steps.add(new BootStep(name, ms, detail));
        LOG.infof("[%s] %s (%d ms)", name, detail, ms);
    }

    private static void checkInterrupted() throws InterruptedException {
        if (Thread.currentThread().isInterrupted()) {
            throw new InterruptedException();
        }
    }

    private void fail(String message, int exitCode) {
        kafkaReady.countDown();
        if (phase == Phase.STOPPING || phase == Phase.STOPPED) {
            LOG.infof("start-up abandoned during shutdown: %s", message);
            return;
        }
        failure = message;
        phase = Phase.FAILED;
        LOG.error(message);
        LOG.errorf("OmniCall cannot start; exiting with status %d", exitCode);
        Quarkus.asyncExit(exitCode);
    }

    void onStop(@Observes @Priority(10) ShutdownEvent event) {
        phase = Phase.STOPPING;
        Thread t = bootThread;
        if (t != null && t.isAlive()) {
            t.interrupt();
            try {
                t.join(30_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        while (!started.isEmpty()) {
            Closer c = started.pop();
            long t0 = System.nanoTime();
            try {
                c.resource().close();
                LOG.infof("[shutdown] %s stopped (%d ms)", c.name(), (System.nanoTime() - t0) / 1_000_000);
            } catch (Exception e) {
                LOG.warnf("[shutdown] %s did not stop cleanly: %s", c.name(), e.toString());
            }
        }
        phase = Phase.STOPPED;
    }

    public Phase phase() {
        return phase;
    }

    public Optional<String> failure() {
        return Optional.ofNullable(failure);
    }

    public List<BootStep> steps() {
        synchronized (steps) {
            return List.copyOf(steps);
        }
    }

    public Map<Role, RoleService> roles() {
        synchronized (roles) {
            return Map.copyOf(roles);
        }
    }

    public RoleStatus roleStatus(Role role) {
        RoleService s = roles.get(role);
        if (s == null) {
            return RoleStatus.of(RoleStatus.State.STOPPED, "not selected in omnicall.roles");
        }
        if (phase == Phase.STARTING && !started.stream().anyMatch(c -> c.resource() == s)) {
            return RoleStatus.of(RoleStatus.State.PENDING, "waiting for Kafka and topics");
        }
        return s.status();
    }

    public Optional<KafkaSettings> kafka() {
        return Optional.ofNullable(kafka);
    }

    public Optional<EmbeddedKafka> embedded() {
        return Optional.ofNullable(embedded);
    }

    public Optional<PipelineObserver> observer() {
        return Optional.ofNullable(observer);
    }

    public PipelineMetrics metrics() {
        return metrics;
    }

    public DashboardState dashboard() {
        return dashboard;
    }

    public OmniCallConfig config() {
        return config;
    }

    /** The checkpoint the worker role loads and its encoder input length (also when the role is not selected). */
    public ModelChoice model() {
        return model;
    }
}
