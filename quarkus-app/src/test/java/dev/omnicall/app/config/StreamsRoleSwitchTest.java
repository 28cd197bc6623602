package dev.omnicall.app.config;

import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** What the streams role switch derives from omnicall.roles (StreamsRoleOffIT boots the app with it off). */
class StreamsRoleSwitchTest {

    private static final String STATE_CHECK =
            "quarkus.smallrye-health.check.\"io.quarkus.kafka.streams.runtime.health.KafkaStreamsStateHealthCheck\".enabled";
    private static final String TOPICS_CHECK =
            "quarkus.smallrye-health.check.\"io.quarkus.kafka.streams.runtime.health.KafkaStreamsTopicsHealthCheck\".enabled";

    @Test
    void shouldLeaveTheExtensionOnWhenTheRolesNameStreams() {
        assertThat(StreamsRoleSwitch.derive("bridge,worker,streams")).containsExactly(Map.entry(StreamsRoleSwitch.ACTIVE, "true"));
        assertThat(StreamsRoleSwitch.derive(" Streams ")).containsEntry(StreamsRoleSwitch.ACTIVE, "true");
    }

    @Test
    void shouldTreatUnsetRolesAsTheDefaultThatRunsEveryRole() {
        assertThat(StreamsRoleSwitch.derive(null)).containsEntry(StreamsRoleSwitch.ACTIVE, "true");
        assertThat(StreamsRoleSwitch.derive("")).containsEntry(StreamsRoleSwitch.ACTIVE, "true");
    }

    @Test
    void shouldHideTheTopologyAndTurnOffTheExtensionsHealthChecksWithoutTheStreamsRole() {
        assertThat(StreamsRoleSwitch.derive("bridge,worker")).containsOnly(Map.entry(StreamsRoleSwitch.ACTIVE, "false"),
                Map.entry(STATE_CHECK, "false"), Map.entry(TOPICS_CHECK, "false"));
        // a role whose name only contains "streams" is not the streams role
        assertThat(StreamsRoleSwitch.derive("bridge,nostreams")).containsEntry(StreamsRoleSwitch.ACTIVE, "false");
    }
}
