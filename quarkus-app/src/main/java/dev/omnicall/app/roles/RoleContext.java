package dev.omnicall.app.roles;

import dev.omnicall.app.config.OmniCallConfig;
import dev.omnicall.kafka.KafkaSettings;
import dev.omnicall.kafka.SerdeConfig;
import io.micrometer.core.instrument.MeterRegistry;

/**
 * What every role gets when it starts: the checked config, Kafka client settings pointing at the running
 * broker (embedded or external), the event serde and the app's meter registry (scraped at /q/metrics).
 */
public record RoleContext(OmniCallConfig config, KafkaSettings kafka, SerdeConfig serde, MeterRegistry registry) {
}
