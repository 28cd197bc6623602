package dev.omnicall.reliability.proc;

import dev.omnicall.kafka.KafkaSettings;
import dev.omnicall.kafka.SerdeConfig;
import dev.omnicall.topologies.ConversationConfig;
import dev.omnicall.topologies.StreamsRole;
import dev.omnicall.topologies.StreamsSettings;

import java.nio.file.Path;
import java.util.Map;

/**
 * The streams role alone in a JVM, for the kill -9 test: {@code kafka.*} keys plus {@code state-dir=} and
 * {@code application-id=}. Prints {@code READY streams} once the role is RUNNING and its counters every
 * second ({@code METRICS {...}}); exits with status 1 ({@code FAILED streams ...}) if the role stops before.
 */
public final class StreamsMain {

    private StreamsMain() {
    }

    public static void main(String[] argv) throws Exception {
        Map<String, String> args = Args.parse(argv);
        KafkaSettings kafka = KafkaSettings.fromProperties(args);
        StreamsSettings settings = new StreamsSettings(args.getOrDefault("application-id", "omnicall-streams"),
                Path.of(Args.required(args, "state-dir")), 20, true, 1);
        StreamsRole role = new StreamsRole(kafka, SerdeConfig.embedded(), settings, ConversationConfig.defaults());
        Runtime.getRuntime().addShutdownHook(new Thread(role::close, "streams-shutdown"));
        long t0 = System.nanoTime();
        role.start();
        while (!role.isRunning()) {
            if (!role.isHealthy()) {
                // the role logged why (a refused Kafka login, say); a harness must not wait for READY for ever
                System.out.println("FAILED streams state=" + role.state());
                System.out.flush();
                System.exit(1);
            }
            Thread.sleep(10);
        }
        System.out.println("READY streams in " + (System.nanoTime() - t0) / 1_000_000 + " ms");
        System.out.flush();
        while (true) {
            Thread.sleep(1000);
            System.out.println("METRICS state=" + role.state() + " " + role.metrics().snapshot());
        }
    }
}
