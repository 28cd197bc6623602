package dev.omnicall.worker;

import dev.omnicall.model.TorchThreads;
import dev.omnicall.model.omni.TinyCheckpointWriter;
import dev.omnicall.model.omni2.TinyOmni2Writer;
import dev.omnicall.worker.engine.TurnEngine;
import dev.omnicall.worker.engine.TurnEngines;
import org.apache.kafka.common.errors.AuthenticationException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Runs one inference worker against a Kafka cluster, without Quarkus: for the kill -9 fault test and for
 * running a worker by hand. Settings, later ones winning: {@code --config FILE} (a properties file), JVM
 * system properties, then {@code key=value} arguments; the keys are those of {@link WorkerConfig#fromProperties}
 * ({@code kafka.bootstrap.servers}, {@code omnicall.worker.model-dir}, ...) and {@value TorchThreads#KEY}
 * ({@link TorchThreads}: one torch thread on CPU unless set). {@code --tiny} writes the tiny
 * checkpoint into the model directory first if none is there ({@code --tiny-omni2}: the tiny LLaMA-Omni2 one). The
 * model family, and with it the engine, comes from the directory's config.json {@code model_type}
 * ({@link TurnEngines}).
 *
 * <pre>
 * java -cp ... dev.omnicall.worker.WorkerMain kafka.bootstrap.servers=127.0.0.1:9092 \
 *      omnicall.worker.model-dir=/models/omni omnicall.worker.device=gpu:0
 * </pre>
 *
 * Prints {@code WORKER READY instance=... group=...} once it has joined its consumer group;
 * SIGTERM stops it cleanly (finished turns committed); SIGKILL leaves unfinished turns to the next owner. A
 * loop that stops on an error (Kafka refusing the credentials, say) ends the process with status 1 after an
 * ERROR line naming the cause.
 */
public final class WorkerMain {

    private static final Logger LOG = LoggerFactory.getLogger(WorkerMain.class);

    private WorkerMain() {
    }

    /** The Whisper encoder's openai {@code .pt} file, for checkpoints whose shards do not hold the encoder. */
    public static final String SPEECH_ENCODER_KEY = "omnicall.model.speech-encoder";

    /** How long a stopping worker lets the turns it already runs finish ({@code PT0S}: stop at once). */
    public static final String DRAIN_TIMEOUT_KEY = "omnicall.worker.drain-timeout";
    public static final Duration DEFAULT_DRAIN_TIMEOUT = Duration.ofSeconds(30);

    public static void main(String[] args) throws Exception {
        Map<String, String> props = new HashMap<>();
        boolean tiny = false;
        boolean tinyOmni2 = false;
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--config") && i + 1 < args.length) {
                props.putAll(load(Path.of(args[++i])));
            } else if (args[i].equals("--tiny")) {
                tiny = true;
            } else if (args[i].equals("--tiny-omni2")) {
                tinyOmni2 = true;
            }
        }
        System.getProperties().forEach((k, v) -> {
            String key = k.toString();
            if (key.startsWith("kafka.") || key.startsWith("omnicall.")) {
                props.put(key, v.toString());
            }
        });
        for (String a : args) {
            int eq = a.indexOf('=');
            if (eq > 0 && !a.startsWith("--")) {
                props.put(a.substring(0, eq), a.substring(eq + 1));
            }
        }
        WorkerConfig config;
        try {
            config = WorkerConfig.fromProperties(props);
            TorchThreads.resolve(props.get(TorchThreads.KEY), config.device().isGpu(), System.getProperties());
        } catch (IllegalArgumentException e) {
            System.err.println("worker config: " + e.getMessage());
            System.exit(2);
            return;
        }
        if (tiny) {
            TinyCheckpointWriter.writeIfAbsent(config.modelDir(), 20240906L);
        } else if (tinyOmni2) {
            TinyOmni2Writer.writeIfAbsent(config.modelDir(), 20240906L);
        }
        LOG.info("worker {} config: kafka {}, model {}, device {}, omega {}, max batch {}, kv cache {} bytes,"
                + " transcribe {}", config.instanceId(), config.kafka(), config.modelDir(), config.device(),
                config.omegaSchedule(), config.maxBatch(), config.kvCacheBytes(), config.transcription());
        // Before anything loads the model: DJL reads the thread counts once, when its engine starts.
        TorchThreads.start(props.get(TorchThreads.KEY), config.device().isGpu());
        CountingWorkerMetrics metrics = new CountingWorkerMetrics();
        String speechEncoder = props.get(SPEECH_ENCODER_KEY);
        TurnEngine engine = TurnEngines.load(config, speechEncoder == null || speechEncoder.isBlank() ? null
                : Path.of(speechEncoder));
        InferenceWorker worker = new InferenceWorker(config, engine, metrics);
        Thread loop = new Thread(worker, "worker-" + config.instanceId());
        // The loop logs its own failure; what is kept here decides the exit status: a worker that cannot
        // go on (Kafka refused its credentials, say) must not end as if it had been stopped.
        AtomicReference<Throwable> failure = new AtomicReference<>();
        loop.setUncaughtExceptionHandler((t, e) -> failure.set(e));
        // SIGTERM (a rollout, a scale-in): finish the replies already generating, then stop.
        Duration drain = Duration.parse(props.getOrDefault(DRAIN_TIMEOUT_KEY, DEFAULT_DRAIN_TIMEOUT.toString()));
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            worker.drainAndClose(drain);
            engine.close();
        }, "worker-shutdown"));
        ScheduledExecutorService status = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "worker-status");
            t.setDaemon(true);
            return t;
        });
        status.scheduleAtFixedRate(() -> LOG.info("worker {}: {}", config.instanceId(), metrics), 10, 10, TimeUnit.SECONDS);
        loop.start();
        while (!worker.hasJoined() && loop.isAlive()) {
            Thread.sleep(20);
        }
        if (worker.hasJoined()) {
            System.out.println("WORKER READY instance=" + config.instanceId() + " group=" + config.groupId());
            System.out.flush();
        }
        loop.join();
        Throwable e = failure.get();
        if (e != null) {
            LOG.error("worker {} stopped: {}; exiting with status 1", config.instanceId(), cause(e));
            System.exit(1);
        }
    }

    /** The failure in words, with a hint where the cause is the Kafka login (never a configured value). */
    static String cause(Throwable e) {
        for (Throwable c = e; c != null; c = c.getCause()) {
            if (c instanceof AuthenticationException) {
                return "Kafka refused the connection (" + c.getClass().getSimpleName() + ": " + c.getMessage()
                        + "); check kafka.security.protocol, kafka.sasl.mechanism, kafka.sasl.jaas.config and"
                        + " kafka.ssl.truststore.*";
            }
        }
        return e.getClass().getSimpleName() + ": " + e.getMessage();
    }

    private static Map<String, String> load(Path file) throws IOException {
        Properties p = new Properties();
        try (Reader r = Files.newBufferedReader(file)) {
            p.load(r);
        }
        Map<String, String> out = new HashMap<>();
        p.forEach((k, v) -> out.put(k.toString(), v.toString()));
        return out;
    }
}
