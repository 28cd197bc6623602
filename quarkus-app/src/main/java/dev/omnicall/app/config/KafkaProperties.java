package dev.omnicall.app.config;

import org.eclipse.microprofile.config.Config;

import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * Collects the {@code kafka.*} keys of the application config (properties file, system properties and
 * environment variables such as {@code KAFKA_SASL_JAAS_CONFIG}) for {@code KafkaSettings.fromProperties}.
 * Kafka's own keys contain only dots, so an environment name maps back by lower-casing and turning
 * {@code _} into {@code .}.
 */
public final class KafkaProperties {

    public static final String BOOTSTRAP = "kafka.bootstrap.servers";

    private KafkaProperties() {
    }

    /** Every {@code kafka.*} key with its value, keyed by the dotted name. */
    public static Map<String, String> from(Config config) {
        Map<String, String> out = new TreeMap<>();
        for (String name : config.getPropertyNames()) {
            String dotted = dotted(name);
            if (dotted == null) {
                continue;
            }
            Optional<String> value = config.getOptionalValue(name, String.class);
            value.filter(v -> !v.isBlank()).ifPresent(v -> out.put(dotted, v));
        }
        return out;
    }

    /** The configured bootstrap servers, or empty for the embedded broker. */
    public static Optional<String> bootstrap(Config config) {
        return config.getOptionalValue(BOOTSTRAP, String.class).filter(s -> !s.isBlank());
    }

    static String dotted(String name) {
        if (name.startsWith("kafka.")) {
            return name;
        }
        if (name.startsWith("KAFKA_") && name.equals(name.toUpperCase(Locale.ROOT))) {
            return name.toLowerCase(Locale.ROOT).replace('_', '.');
        }
        return null;
    }
}
