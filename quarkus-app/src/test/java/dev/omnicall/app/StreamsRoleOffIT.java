package dev.omnicall.app;

import dev.omnicall.app.boot.OmniCallRuntime;
import dev.omnicall.app.config.Role;
import dev.omnicall.app.roles.RoleStatus;
import dev.omnicall.app.roles.StreamsRoleService;
import dev.omnicall.testbroker.TestBrokerCondition;
import dev.omnicall.testbroker.TestBrokerResource;
import io.quarkus.test.common.TestResourceScope;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import jakarta.enterprise.inject.Instance;
import jakarta.inject.Inject;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.common.errors.GroupIdNotFoundException;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.Topology;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.not;
import static org.hamcrest.Matchers.hasItem;

/**
 * A process without the streams role (a bridge pod): Quarkus' Kafka Streams extension, on the class path all the
 * same, creates no Streams client, and its health checks do not pull the pod down for the client it lacks.
 */
@QuarkusTest
@TestProfile(StreamsRoleOffIT.BridgeOnly.class)
@WithTestResource(value = TestBrokerResource.class, scope = TestResourceScope.GLOBAL)
@ExtendWith(TestBrokerCondition.class)
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class StreamsRoleOffIT {

    public static final class BridgeOnly implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("omnicall.roles", "bridge");
        }
    }

    @Inject
    OmniCallRuntime runtime;
    @Inject
    Instance<Topology> topology;
    @Inject
    Instance<KafkaStreams> streams;

    @Test
    void shouldStartNoKafkaStreamsWhenTheRolesDoNotNameStreams() throws Exception {
        // Given omnicall.roles=bridge
        // When the app has booted and its bridge is ready
        await().atMost(Duration.ofSeconds(200)).until(() -> runtime.phase() == OmniCallRuntime.Phase.RUNNING);
        await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> given().get("/q/health/ready").then().statusCode(200)
                .body("status", equalTo("UP")));
        // Then the extension found no Topology and has no Streams client
        assertThat(topology.isUnsatisfied()).as("Topology bean visible").isTrue();
        assertThat(streams.get()).as("the extension's KafkaStreams").isNull();
        assertThat(runtime.roleStatus(Role.STREAMS).state()).isEqualTo(RoleStatus.State.STOPPED);
        // And no Streams client made the group on the broker (Kafka 4 answers "not found" for a group never joined)
        try (Admin admin = Admin.create(runtime.kafka().orElseThrow().admin())) {
            try {
                ConsumerGroupDescription group = admin.describeConsumerGroups(List.of(StreamsRoleService.APPLICATION_ID))
                        .describedGroups().get(StreamsRoleService.APPLICATION_ID).get(30, TimeUnit.SECONDS);
                assertThat(group.members()).as("members of %s", StreamsRoleService.APPLICATION_ID).isEmpty();
            } catch (ExecutionException e) {
                assertThat(e.getCause()).isInstanceOf(GroupIdNotFoundException.class);
            }
        }
        // And liveness is UP without the extension's checks, which would report the missing client DOWN
        given().get("/q/health/live").then().statusCode(200).body("status", equalTo("UP"))
                .body("checks.name", not(hasItem(containsString("Kafka Streams"))));
        given().get("/q/health/ready").then().body("checks.name", not(hasItem(containsString("Kafka Streams"))));
        // And there are no Kafka Streams meters, and no context to query
        assertThat(given().get("/q/metrics").then().extract().asString()).doesNotContain("kafka_stream_");
        given().get("/api/calls/any-call/context").then().statusCode(404).body(containsString("streams role does not run"));
    }
}
