package dev.omnicall.reliability.support;

import dev.omnicall.kafka.EmbeddedKafka;
import dev.omnicall.kafka.KafkaSettings;
import dev.omnicall.kafka.testing.TestTls;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The real embedded broker with a SASL_SSL (SCRAM-SHA-512) client listener beside its PLAINTEXT one, its TLS
 * material made by {@link TestTls}, and one SCRAM user. Roles are pointed at the SASL_SSL listener through
 * the documented {@code kafka.*} keys only; the PLAINTEXT listener serves nothing but the broker's own
 * start-up checks and topic creation.
 */
public final class SaslSslBroker implements AutoCloseable {

    public final TestTls tls;
    public final EmbeddedKafka kafka;
    public final String user;
    private final String password;

    private SaslSslBroker(TestTls tls, EmbeddedKafka kafka, String user, String password) {
        this.tls = tls;
        this.kafka = kafka;
        this.user = user;
        this.password = password;
    }

    /** Makes the TLS material in {@code dir}/tls, starts the broker in {@code dir}/kafka and creates the topics. */
    public static SaslSslBroker start(Path dir, int partitions, String user, String password) {
        return start(dir, partitions, user, password, TestTls.create(dir.resolve("tls")));
    }

    public static SaslSslBroker start(Path dir, int partitions, String user, String password, TestTls tls) {
        EmbeddedKafka kafka = EmbeddedKafka.start(new EmbeddedKafka.Options(dir.resolve("kafka"), 0, 0, partitions,
                tls.listener(Map.of(user, password))));
        try {
            kafka.createTopics();
        } catch (RuntimeException e) {
            kafka.close();
            throw e;
        }
        return new SaslSslBroker(tls, kafka, user, password);
    }

    /** The documented client keys for the SASL_SSL listener, with this user's password. */
    public Map<String, String> clientProperties() {
        return clientProperties(password);
    }

    /** The same keys with another password (a wrong one, for the refusal tests). */
    public Map<String, String> clientProperties(String password) {
        return tls.clientProperties(kafka.saslSslBootstrapServers(), user, password);
    }

    /** The keys as {@code key=value} arguments of a child main. */
    public List<String> clientArgs(String password) {
        List<String> out = new ArrayList<>();
        clientProperties(password).forEach((k, v) -> out.add(k + "=" + v));
        return out;
    }

    public List<String> clientArgs() {
        return clientArgs(password);
    }

    /** Settings for the test's own clients over SASL_SSL. */
    public KafkaSettings settings() {
        return KafkaSettings.fromProperties(clientProperties());
    }

    /** Settings for the PLAINTEXT listener, for comparisons only. */
    public KafkaSettings plaintext() {
        return kafka.settings();
    }

    @Override
    public void close() {
        kafka.close();
    }
}
