package dev.omnicall.testbroker;

import org.apache.kafka.common.utils.AppInfoParser;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The -Dit.kafka switch and its skip logic, decided without a broker or a Docker engine. */
class BrokerChoiceTest {

    private static final BooleanSupplier NO_DOCKER = () -> false;
    private static final BooleanSupplier DOCKER = () -> true;

    @Test
    void shouldChooseTheEmbeddedBrokerWhenTheSwitchIsUnsetOrSaysEmbedded() {
        assertThat(BrokerChoice.parse(null)).isEqualTo(BrokerChoice.EMBEDDED);
        assertThat(BrokerChoice.parse("")).isEqualTo(BrokerChoice.EMBEDDED);
        assertThat(BrokerChoice.parse("embedded")).isEqualTo(BrokerChoice.EMBEDDED);
        assertThat(BrokerChoice.parse(" Container ")).isEqualTo(BrokerChoice.CONTAINER);
    }

    @Test
    void shouldRefuseAMisspeltChoiceRatherThanFallBackToTheEmbeddedBroker() {
        assertThatThrownBy(() -> BrokerChoice.parse("containers"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("it.kafka must be 'embedded' or 'container', got 'containers'");
    }

    @Test
    void shouldNeverLookForDockerWhenTheEmbeddedBrokerIsChosen() {
        AtomicInteger asked = new AtomicInteger();
        assertThat(BrokerChoice.EMBEDDED.skipReason(() -> {
            asked.incrementAndGet();
            return false;
        })).isEmpty();
        assertThat(asked).hasValue(0);
    }

    @Test
    void shouldSkipWithTheReasonWhenTheContainerIsChosenAndNoDockerEngineIsReachable() {
        assertThat(BrokerChoice.CONTAINER.skipReason(NO_DOCKER)).hasValueSatisfying(reason -> assertThat(reason)
                .startsWith("it.kafka=container asks for an apache/kafka:4.1.1 container")
                .contains("no Docker engine"));
        assertThat(BrokerChoice.CONTAINER.skipReason(DOCKER)).isEmpty();
    }

    @Test
    void shouldDisableATestClassOnlyForTheContainerWithoutDocker() {
        ConditionEvaluationResult skipped = TestBrokerCondition.evaluate(BrokerChoice.CONTAINER, NO_DOCKER);
        assertThat(skipped.isDisabled()).isTrue();
        assertThat(skipped.getReason()).hasValueSatisfying(r -> assertThat(r).contains("no Docker engine"));

        assertThat(TestBrokerCondition.evaluate(BrokerChoice.CONTAINER, DOCKER).isDisabled()).isFalse();
        assertThat(TestBrokerCondition.evaluate(BrokerChoice.EMBEDDED, NO_DOCKER).isDisabled()).isFalse();
    }

    @Test
    void shouldPinTheImageToTheReleaseOfTheProjectsKafkaClients() {
        // Given the kafka-clients jar on the test class path (kafka.version in the root pom)
        String clients = AppInfoParser.getVersion();
        // Then the container runs the same Kafka release
        assertThat(ContainerTestBroker.IMAGE.getRepository()).isEqualTo("apache/kafka");
        assertThat(ContainerTestBroker.IMAGE.getVersionPart()).isEqualTo(clients);
    }

    @Test
    void shouldConfigureTheContainerLikeTheEmbeddedBroker() {
        // single-replica internals (transactions need them on one node), no auto-created topics, no join delay
        assertThat(ContainerTestBroker.brokerEnv())
                .containsEntry("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false")
                .containsEntry("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
                .containsEntry("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
                .containsEntry("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1")
                .containsEntry("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0");
    }
}
