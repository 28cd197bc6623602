package dev.omnicall.app.config;

import dev.omnicall.kafka.SerdeConfig;
import org.eclipse.microprofile.config.Config;

import java.util.HashMap;
import java.util.Map;

/**
 * The event serde's settings: {@code omnicall.serde.*} plus the registry client's own keys ({@code apicurio.registry.*},
 * {@code schema.registry.*}, {@code basic.auth.*}), passed through as they are.
 */
public final class SerdeProperties {

    private SerdeProperties() {
    }

    public static SerdeConfig serdeConfig(OmniCallConfig config, Config raw) {
        return SerdeConfig.fromProperties(from(config, raw));
    }

    static Map<String, Object> from(OmniCallConfig config, Config raw) {
        Map<String, Object> p = new HashMap<>();
        p.put(SerdeConfig.KIND, config.serde().kind());
        config.serde().registryUrl().ifPresent(u -> p.put(SerdeConfig.REGISTRY_URL, u));
        for (String name : raw.getPropertyNames()) {
            if (name.startsWith("apicurio.registry.") || name.startsWith("schema.registry.") || name.startsWith("basic.auth.")) {
                raw.getOptionalValue(name, String.class).ifPresent(v -> p.put(name, v));
            }
        }
        return p;
    }
}
