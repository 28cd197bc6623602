package dev.omnicall.reliability.proc;

import dev.omnicall.kafka.EmbeddedKafka;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The embedded KRaft broker alone in a JVM, so a test can SIGKILL it: {@code data-dir=}, {@code broker-port=},
 * {@code controller-port=}, {@code partitions=}, {@code create-topics=true|false} and optionally {@code kafka-log-level=INFO}. Fixed ports and a fixed
 * data directory, so a second process started with the same arguments recovers the first one's logs. Prints
 * {@code READY broker port=<p> in <ms> ms} once an admin client sees it (and the topics exist, if asked).
 *
 * <p>Kafka's log-loading and broker-registration lines are logged at INFO (the rest of Kafka at WARN, see
 * {@link LoggedMain}): they say whether the broker found a clean-shutdown marker or recovered its logs, and how
 * long the controller refused to register the new process while the killed one's session was still open.
 */
public final class BrokerMain {

    /** Strong references: a logger's level is lost if the logger is collected. */
    private static final List<Logger> LOG_LOADING = List.of(Logger.getLogger("kafka.log.LogManager"),
            Logger.getLogger("org.apache.kafka.storage.internals.log.LogLoader"),
            Logger.getLogger("org.apache.kafka.storage.internals.log.UnifiedLog"),
            Logger.getLogger("kafka.log.UnifiedLog"), Logger.getLogger("kafka.server.BrokerLifecycleManager"));
    /** Optional {@code kafka-log-level=INFO}: all of Kafka's broker logging, to see where a start-up spends its time. */
    private static final List<Logger> KAFKA = List.of(Logger.getLogger("kafka"), Logger.getLogger("org.apache.kafka"));

    private BrokerMain() {
    }

    public static void main(String[] argv) {
        Map<String, String> args = Args.parse(argv);
        LOG_LOADING.forEach(l -> l.setLevel(Level.INFO));
        if (args.containsKey("kafka-log-level")) {
            Level level = Level.parse(args.get("kafka-log-level"));
            KAFKA.forEach(l -> l.setLevel(level));
        }
        EmbeddedKafka.Options options = new EmbeddedKafka.Options(Path.of(Args.required(args, "data-dir")),
                Integer.parseInt(Args.required(args, "broker-port")), Integer.parseInt(Args.required(args, "controller-port")),
                Integer.parseInt(Args.required(args, "partitions")));
        long t0 = System.nanoTime();
        EmbeddedKafka kafka = EmbeddedKafka.start(options);
        if (Boolean.parseBoolean(args.getOrDefault("create-topics", "false"))) {
            kafka.createTopics();
        }
        // A SIGTERM still stops it cleanly; the kill -9 test never lets this run.
        Runtime.getRuntime().addShutdownHook(new Thread(kafka::close, "broker-shutdown"));
        System.out.println("READY broker port=" + kafka.brokerPort() + " in " + (System.nanoTime() - t0) / 1_000_000
                + " ms (EmbeddedKafka " + kafka.startupMillis() + " ms)");
        System.out.flush();
        try {
            Thread.currentThread().join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
