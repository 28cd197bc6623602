package dev.omnicall.kafka;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.HashSet;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** How the embedded broker finds its listeners' ports (no broker is started here). */
class EmbeddedKafkaPortsTest {

    @Test
    void shouldHoldEveryFoundPortUntilClosedSoNoPortComesTwice() throws IOException {
        InetAddress loopback = InetAddress.getByName("127.0.0.1");
        Set<Integer> ports = new HashSet<>();
        try (EmbeddedKafka.FreePorts free = new EmbeddedKafka.FreePorts()) {
            for (int i = 0; i < 20; i++) {
                ports.add(free.next());
            }
            assertThat(ports).hasSize(20);
            int held = ports.iterator().next();
            assertThatThrownBy(() -> {
                try (ServerSocket s = new ServerSocket()) {
                    s.bind(new InetSocketAddress(loopback, held));
                }
            }).isInstanceOf(IOException.class);
        }
        // closed: the ports are free again for the broker to bind
        int released = ports.iterator().next();
        try (ServerSocket s = new ServerSocket()) {
            s.bind(new InetSocketAddress(loopback, released));
            assertThat(s.getLocalPort()).isEqualTo(released);
        }
    }

    @Test
    void shouldRefuseOnePortForTwoListenersBeforeStartingAnything() {
        int port;
        try (EmbeddedKafka.FreePorts free = new EmbeddedKafka.FreePorts()) {
            port = free.next();
        }
        assertThatThrownBy(() -> EmbeddedKafka.start(EmbeddedKafka.Options.forTests().withPorts(port, port)))
                .isInstanceOf(EmbeddedKafka.EmbeddedKafkaException.class)
                .hasMessageContaining("distinct ports")
                .hasMessageContaining("broker " + port + ", controller " + port);
    }
}
