package dev.omnicall.app.trace;

import io.smallrye.config.ConfigSourceContext;
import io.smallrye.config.ConfigSourceFactory;
import io.smallrye.config.ConfigValue;
import io.smallrye.config.PropertiesConfigSource;
import org.eclipse.microprofile.config.spi.ConfigSource;

import java.util.List;
import java.util.Map;

/**
 * Traces are off unless an OTLP endpoint is set: this config source derives {@value #SDK_DISABLED} from
 * {@value #ENDPOINT} and {@value #TRACES_ENDPOINT}. With neither set by the user (the zero-setup run) the
 * OpenTelemetry SDK is disabled, so no span is made and nothing tries to reach a collector. Registered in
 * {@code META-INF/services/io.smallrye.config.ConfigSourceFactory}; its ordinal is below application.properties', so
 * a {@value #SDK_DISABLED} set anywhere wins over the derived one (the test profile sets it false).
 */
public final class TracingSwitch implements ConfigSourceFactory {

    static final String SDK_DISABLED = "quarkus.otel.sdk.disabled";
    static final String ENDPOINT = "quarkus.otel.exporter.otlp.endpoint";
    static final String TRACES_ENDPOINT = "quarkus.otel.exporter.otlp.traces.endpoint";
    static final int ORDINAL = 50;
    /**
     * Sources from this ordinal up are the user's (META-INF/microprofile-config.properties 100, application.properties
     * 250, .env 295, environment 300, system properties 400); below are defaults, such as the extension's own
     * localhost:4317, which must not count as "set".
     */
    static final int USER_ORDINAL = 100;

    @Override
    public Iterable<ConfigSource> getConfigSources(ConfigSourceContext context) {
        boolean endpoint = isSet(context.getValue(ENDPOINT)) || isSet(context.getValue(TRACES_ENDPOINT));
        return List.of(new PropertiesConfigSource(derive(endpoint),
                "OmniCall tracing switch (on with " + ENDPOINT + " or " + TRACES_ENDPOINT + ")", ORDINAL));
    }

    /** The derived keys: the SDK on exactly when an endpoint is set. */
    static Map<String, String> derive(boolean endpointSet) {
        return Map.of(SDK_DISABLED, Boolean.toString(!endpointSet));
    }

    static boolean isSet(ConfigValue v) {
        return v != null && v.getValue() != null && !v.getValue().isBlank() && v.getConfigSourceOrdinal() >= USER_ORDINAL;
    }
}
