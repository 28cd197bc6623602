package dev.omnicall.deploy;

import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The app's configuration keys, read from quarkus-app's application.properties, the catalogue every
 * manifest must stay within. A key counts whether it has a default ({@code omnicall.sip.port=5060}) or is
 * only documented as a commented example ({@code #omnicall.sip.auth.username=}).
 * <p>
 * Environment variables map to keys as in Quarkus (MicroProfile Config): upper case, every character that
 * is not a letter or digit becomes '_' ({@code omnicall.rtp.port-min -> OMNICALL_RTP_PORT_MIN}).
 * {@code KAFKA_*} variables are the pass-through to every Kafka client: {@code KAFKA_SASL_JAAS_CONFIG ->
 * sasl.jaas.config}, which must be a real producer, consumer or admin client setting.
 */
final class ConfigCatalogue {

    /**
     * Keys the manifests already use that quarkus-app's committed catalogue may not list yet: the bridge slot
     * for telephony-bridge's PartitionAffinity (BridgeConfig bridgeIndex/bridgeCount), and two switches being
     * added to the catalogue. Accepted, and printed, while absent (once present they pass as ordinary keys
     * and this set can go).
     */
    static final Set<String> PENDING_KEYS = Set.of("omnicall.bridge.index", "omnicall.bridge.count",
            "omnicall.kafka.create-topics", "omnicall.model.write-tiny-if-missing");

    /**
     * Variables the java launcher and the JVM read, not the app: the image's JVM flags come through
     * JDK_JAVA_OPTIONS (quarkus-app/jvm.options, a role's own flags after it), heap sizing through JAVA_TOOL_OPTIONS.
     */
    static final Set<String> JVM_VARIABLES = Set.of("JDK_JAVA_OPTIONS", "JAVA_TOOL_OPTIONS");

    private static final Pattern KEY_LINE = Pattern.compile("^#?\\s*([a-z][a-z0-9.\\-]*[a-z0-9])\\s*=");

    private final Set<String> keys;
    private final Map<String, String> keyByEnv = new HashMap<>();

    private ConfigCatalogue(Set<String> keys) {
        this.keys = Set.copyOf(keys);
        for (String key : keys) {
            keyByEnv.put(envName(key), key);
        }
    }

    static ConfigCatalogue load(Path file) {
        try {
            Set<String> keys = new HashSet<>();
            for (String line : Files.readAllLines(file)) {
                Matcher m = KEY_LINE.matcher(line.strip());
                if (m.find()) {
                    keys.add(m.group(1));
                }
            }
            if (keys.isEmpty()) {
                throw new IllegalStateException(file + " lists no configuration keys");
            }
            return new ConfigCatalogue(keys);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the configuration catalogue " + file, e);
        }
    }

    Set<String> keys() {
        return keys;
    }

    /** The environment variable Quarkus reads for {@code key}. */
    static String envName(String key) {
        StringBuilder env = new StringBuilder(key.length());
        for (char c : key.toCharArray()) {
            env.append(Character.isLetterOrDigit(c) ? Character.toUpperCase(c) : '_');
        }
        return env.toString();
    }

    /** The catalogue key behind {@code env}, if it is one of the app's own keys. */
    Optional<String> keyFor(String env) {
        return Optional.ofNullable(keyByEnv.get(env));
    }

    /** The Kafka client setting a {@code KAFKA_*} variable passes through, e.g. sasl.jaas.config. */
    static Optional<String> kafkaClientSetting(String env) {
        if (!env.startsWith("KAFKA_")) {
            return Optional.empty();
        }
        String setting = env.substring("KAFKA_".length()).toLowerCase(Locale.ROOT).replace('_', '.');
        boolean known = ProducerConfig.configNames().contains(setting)
                || ConsumerConfig.configNames().contains(setting)
                || AdminClientConfig.configNames().contains(setting);
        return known ? Optional.of(setting) : Optional.empty();
    }

    /** Null when the app understands {@code env}; otherwise why not. */
    String problemWith(String env) {
        if (keyFor(env).isPresent() || kafkaClientSetting(env).isPresent() || JVM_VARIABLES.contains(env)) {
            return null;
        }
        for (String pending : PENDING_KEYS) {
            if (envName(pending).equals(env)) {
                System.out.println("PENDING config key (not yet in application.properties): " + pending + " <- " + env);
                return null;
            }
        }
        if (env.startsWith("KAFKA_")) {
            return env + " passes through as '" + env.substring(6).toLowerCase(Locale.ROOT).replace('_', '.')
                    + "', which is no Kafka producer, consumer or admin client setting";
        }
        return env + " maps to no key of " + Locations.CONFIG_CATALOGUE.getFileName()
                + " (expected one of the OMNICALL_*/QUARKUS_* names derived from its keys, KAFKA_*, or one of "
                + JVM_VARIABLES.stream().sorted().toList() + ")";
    }
}
