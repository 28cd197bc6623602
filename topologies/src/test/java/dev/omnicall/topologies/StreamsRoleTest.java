package dev.omnicall.topologies;

import org.apache.kafka.common.errors.SaslAuthenticationException;
import org.apache.kafka.common.errors.SslAuthenticationException;
import org.apache.kafka.streams.errors.StreamsException;
import org.junit.jupiter.api.Test;

import static org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.REPLACE_THREAD;
import static org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
import static org.assertj.core.api.Assertions.assertThat;

class StreamsRoleTest {

    @Test
    void shouldStopTheRoleWhenKafkaRefusesTheLogin() {
        // Given a stream thread that died because the broker refused its SASL login or TLS handshake
        // (Kafka Streams wraps the client's exception), When the handler decides, Then the role stops
        assertThat(StreamsRole.onThreadFailure(new StreamsException(new SaslAuthenticationException(
                "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512"))))
                .isEqualTo(SHUTDOWN_CLIENT);
        assertThat(StreamsRole.onThreadFailure(new SslAuthenticationException("SSL handshake failed"))).isEqualTo(SHUTDOWN_CLIENT);
    }

    @Test
    void shouldReplaceTheThreadWhenItFailsForAnyOtherReason() {
        // Given a thread that died of something a new thread may not meet again, Then it is replaced
        assertThat(StreamsRole.onThreadFailure(new StreamsException(new IllegalStateException("boom")))).isEqualTo(REPLACE_THREAD);
    }
}
