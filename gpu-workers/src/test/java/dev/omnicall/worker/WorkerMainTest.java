package dev.omnicall.worker;

import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.errors.SaslAuthenticationException;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class WorkerMainTest {

    @Test
    void shouldNameTheKafkaLoginAndTheKeysToCheckWhenTheBrokerRefusesTheCredentials() {
        // Given the loop's failure when the broker refused the SASL login
        Throwable e = new KafkaException(new SaslAuthenticationException(
                "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512"));

        // When it is put in words, Then it names the refusal and the keys to look at
        assertThat(WorkerMain.cause(e)).contains("Kafka refused the connection").contains("SaslAuthenticationException")
                .contains("invalid credentials").contains("kafka.sasl.jaas.config");
    }

    @Test
    void shouldGiveTheErrorAsItIsWhenItIsNotAboutTheLogin() {
        assertThat(WorkerMain.cause(new IllegalStateException("output could not be produced")))
                .isEqualTo("IllegalStateException: output could not be produced");
    }
}
