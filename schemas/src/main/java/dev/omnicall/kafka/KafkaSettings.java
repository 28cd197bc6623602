package dev.omnicall.kafka;

import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;

import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * Client settings shared by every role: the bootstrap servers plus any {@code kafka.*} key of the
 * application config (security.protocol, sasl.*, ssl.*), passed through to every producer, consumer,
 * admin and Streams client. Producers are durable by default: {@code acks=all} with idempotence.
 */
public record KafkaSettings(String bootstrapServers, Map<String, Object> passthrough) {

    public static final String PREFIX = "kafka.";

    public KafkaSettings {
        Objects.requireNonNull(bootstrapServers, "bootstrapServers");
        if (bootstrapServers.isBlank()) {
            throw new IllegalArgumentException("kafka.bootstrap.servers is blank");
        }
        passthrough = Map.copyOf(passthrough == null ? Map.of() : passthrough);
    }

    public static KafkaSettings of(String bootstrapServers) {
        return new KafkaSettings(bootstrapServers, Map.of());
    }

    /** Takes {@code kafka.bootstrap.servers} and every other {@code kafka.*} key from application properties. */
    public static KafkaSettings fromProperties(Map<String, ?> props) {
        Object servers = props.get(PREFIX + "bootstrap.servers");
        if (servers == null) {
            throw new IllegalArgumentException("kafka.bootstrap.servers is not set");
        }
        Map<String, Object> pass = new HashMap<>();
        props.forEach((k, v) -> {
            if (k.startsWith(PREFIX) && !k.equals(PREFIX + "bootstrap.servers")) {
                pass.put(k.substring(PREFIX.length()), v);
            }
        });
        return new KafkaSettings(servers.toString(), pass);
    }

    public Map<String, Object> common() {
        Map<String, Object> p = new HashMap<>(passthrough);
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        return p;
    }

    /** A durable, low-latency producer: acks=all, idempotent, no batching delay. */
    public Map<String, Object> producer(String clientId) {
        Map<String, Object> p = common();
        p.put(ProducerConfig.CLIENT_ID_CONFIG, clientId);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        p.put(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, 5);
        // Audio is latency-bound: send at once rather than wait to fill a batch.
        p.put(ProducerConfig.LINGER_MS_CONFIG, 0);
        p.putIfAbsent(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 120_000);
        // A whole utterance (TurnRequest) or a dead letter carrying one can exceed the 1 MB default.
        p.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, Topic.LARGE_RECORD_BYTES);
        return p;
    }

    /**
     * How long the broker holds a fetch that finds no data, unless {@code kafka.fetch.max.wait.ms} says otherwise:
     * Kafka's default. The broker answers as soon as data (for read_committed: a commit) is there, so the wait only
     * bounds an idle fetch; 10 ms kept every idle consumer's fetch turning over 100 times a second (issue 16).
     */
    public static final int IDLE_FETCH_WAIT_MS = 500;

    /**
     * The fetch wait of a consumer that reads with {@code assign()} or for display only (the bridge's response-audio,
     * the dashboard), unless {@code kafka.fetch.max.wait.ms} says otherwise. The broker completes a held fetch as soon
     * as a record (for read_committed: its commit) is there ({@code KafkaLongPollIT}), so this bounds only a fetch
     * that finds nothing: such a consumer asks 0.2 times a second instead of 2. Not for a group member whose
     * partitions may move (streams, worker): a partition assigned in a rebalance is fetched only when the fetch in
     * flight returns.
     */
    public static final int LONG_FETCH_WAIT_MS = 5000;

    /** A consumer that commits explicitly and reads only committed transactional output. */
    public Map<String, Object> consumer(String groupId, String clientId) {
        Map<String, Object> p = common();
        p.put(ConsumerConfig.GROUP_ID_CONFIG, groupId);
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, clientId);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.putIfAbsent(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.putIfAbsent(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, IDLE_FETCH_WAIT_MS);
        return p;
    }

    public Map<String, Object> admin() {
        return common();
    }

    /** The settings for logs: values of keys that look secret are replaced. */
    public Map<String, Object> redacted() {
        Map<String, Object> out = new TreeMap<>();
        common().forEach((k, v) -> out.put(k, isSecret(k) ? "[redacted]" : v));
        return out;
    }

    /** Keys whose values must never reach a log. */
    public static boolean isSecret(String key) {
        String k = key.toLowerCase(Locale.ROOT);
        return k.contains("password") || k.contains("jaas") || k.contains("secret") || k.contains("token")
                || k.endsWith(".key") || k.contains("credentials");
    }

    @Override
    public String toString() {
        return "KafkaSettings" + redacted();
    }
}
