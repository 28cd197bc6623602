package dev.omnicall.app.trace;

import io.smallrye.config.PropertiesConfigSource;
import io.smallrye.config.SmallRyeConfig;
import io.smallrye.config.SmallRyeConfigBuilder;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** Traces are off unless an OTLP endpoint is set: the derived quarkus.otel.sdk.disabled on a real SmallRye config. */
class TracingSwitchTest {

    /** application.properties' ordinal. */
    private static final int APPLICATION = 250;

    @Test
    void shouldDisableTheSdkWhenNoEndpointIsSetAsInTheZeroSetupRun() {
        assertThat(sdkDisabled(Map.of(), Map.of())).isTrue();
    }

    @Test
    void shouldDisableTheSdkWhenTheEndpointIsOnlyTheExtensionsDefault() {
        // the extension's own default (localhost:4317) is no collector anyone set up
        assertThat(sdkDisabled(Map.of(), Map.of(TracingSwitch.ENDPOINT, "http://localhost:4317"))).isTrue();
    }

    @Test
    void shouldEnableTheSdkWhenTheOtlpEndpointIsSet() {
        assertThat(sdkDisabled(Map.of(TracingSwitch.ENDPOINT, "http://collector:4317"), Map.of())).isFalse();
    }

    @Test
    void shouldEnableTheSdkWhenOnlyTheTracesEndpointIsSet() {
        assertThat(sdkDisabled(Map.of(TracingSwitch.TRACES_ENDPOINT, "http://collector:4318/v1/traces"), Map.of())).isFalse();
    }

    @Test
    void shouldLeaveAnExplicitSdkDisabledAloneWhenAnEndpointIsSetToo() {
        assertThat(sdkDisabled(Map.of(TracingSwitch.ENDPOINT, "http://collector:4317", TracingSwitch.SDK_DISABLED, "true"),
                Map.of())).isTrue();
        assertThat(sdkDisabled(Map.of(TracingSwitch.SDK_DISABLED, "false"), Map.of())).isFalse();
    }

    private static boolean sdkDisabled(Map<String, String> application, Map<String, String> defaults) {
        SmallRyeConfig config = new SmallRyeConfigBuilder()
                .withSources(new PropertiesConfigSource(application, "application.properties", APPLICATION))
                .withDefaultValues(defaults)
                .withSources(new TracingSwitch())
                .build();
        return config.getValue(TracingSwitch.SDK_DISABLED, Boolean.class);
    }
}
