package dev.omnicall.app.config;

import io.smallrye.config.ConfigSourceContext;
import io.smallrye.config.ConfigSourceFactory;
import io.smallrye.config.ConfigValue;
import io.smallrye.config.PropertiesConfigSource;
import org.eclipse.microprofile.config.spi.ConfigSource;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Turns Quarkus' Kafka Streams extension on and off with the streams role, so that {@code omnicall.roles} stays the
 * one switch. From it this config source derives:
 *
 * <ul>
 *   <li>{@value #ACTIVE}: whether the roles name streams. The {@code Topology} bean is looked up only when it is
 *       true ({@code @LookupIfProperty} in {@code StreamsTopology}); finding none, the extension creates no Kafka
 *       Streams client at all.</li>
 *   <li>when it is false, the extension's two health checks off: they would report the Streams client that does not
 *       exist as DOWN, and the liveness one would get a bridge or worker pod restarted for it.</li>
 * </ul>
 *
 * Registered in {@code META-INF/services/io.smallrye.config.ConfigSourceFactory}. Its ordinal is below
 * application.properties', so a key set explicitly anywhere wins over the derived one.
 */
public final class StreamsRoleSwitch implements ConfigSourceFactory {

    /** true or false; derived, never set by hand. Outside {@code omnicall.*}, which {@link OmniCallConfig} maps. */
    public static final String ACTIVE = "omnicall-roles.streams";
    static final String ROLES = "omnicall.roles";
    /** {@link OmniCallConfig#roles()}'s default. */
    static final String DEFAULT_ROLES = "bridge,worker,streams";
    static final List<String> EXTENSION_HEALTH_CHECKS = List.of(
            "io.quarkus.kafka.streams.runtime.health.KafkaStreamsStateHealthCheck",
            "io.quarkus.kafka.streams.runtime.health.KafkaStreamsTopicsHealthCheck");
    static final int ORDINAL = 50;

    @Override
    public Iterable<ConfigSource> getConfigSources(ConfigSourceContext context) {
        ConfigValue roles = context.getValue(ROLES);
        return List.of(new PropertiesConfigSource(derive(roles == null ? null : roles.getValue()),
                "OmniCall streams role switch (from " + ROLES + ")", ORDINAL));
    }

    /** The derived keys for a value of {@code omnicall.roles} (null: its default). */
    static Map<String, String> derive(String roles) {
        String list = roles == null || roles.isBlank() ? DEFAULT_ROLES : roles;
        boolean streams = Arrays.stream(list.split(","))
                .anyMatch(r -> r.trim().toLowerCase(Locale.ROOT).equals(Role.STREAMS.key()));
        Map<String, String> out = new LinkedHashMap<>();
        out.put(ACTIVE, Boolean.toString(streams));
        if (!streams) {
            EXTENSION_HEALTH_CHECKS.forEach(c -> out.put("quarkus.smallrye-health.check.\"" + c + "\".enabled", "false"));
        }
        return out;
    }
}
