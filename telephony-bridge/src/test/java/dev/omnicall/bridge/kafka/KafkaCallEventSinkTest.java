package dev.omnicall.bridge.kafka;

import dev.omnicall.bridge.BridgeMetrics;
import dev.omnicall.events.AudioSegment;
import dev.omnicall.kafka.KafkaSettings;
import dev.omnicall.kafka.SerdeConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.ByteBuffer;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Regression test for BUG-2 of the reliability suite: {@code KafkaProducer.send} blocks its caller while it has
 * no metadata (a broker restart), and the sink called it on the RTP receive thread, stalling the call's media.
 * BUG-3 (broker-backed): {@link KafkaCallEventSinkOutageIT}.
 */
@Timeout(30)
class KafkaCallEventSinkTest {

    /** A 160 ms voiced segment of call c1 (5120 bytes of PCM); {@link KafkaCallEventSinkOutageIT} sends these too. */
    static AudioSegment segment(int seq) {
        return AudioSegment.newBuilder().setCallId("c1").setUtteranceId(0).setSeq(seq)
                .setPcm(ByteBuffer.wrap(new byte[5120])).setVoiced(true).setEndOfUtterance(false)
                .setCaptureStartUs(0).setCaptureEndUs(160_000).build();
    }

    @Test
    void shouldReturnAtOnceAndCountTheFailureWhenNoBrokerAnswers() throws Exception {
        // Given a sink whose producer can never fetch metadata (nothing listens), max.block.ms 1 s
        int closedPort;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            closedPort = s.getLocalPort();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        BridgeMetrics metrics = BridgeMetrics.inMemory();
        KafkaSettings settings = new KafkaSettings("127.0.0.1:" + closedPort, Map.of("max.block.ms", 1000));
        try (KafkaCallEventSink sink = new KafkaCallEventSink(settings, SerdeConfig.embedded(), "sink-test", metrics)) {
            AudioSegment segment = segment(0);

            // When a media thread hands it three segments
            long t0 = System.nanoTime();
            for (int i = 0; i < 3; i++) {
                sink.audioSegment(segment);
            }
            long ms = (System.nanoTime() - t0) / 1_000_000;

            // Then the caller is not held (it was held max.block.ms per segment before the fix)
            assertThat(ms).isLessThan(200);
            // And the sends that timed out on the sender thread are counted
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (metrics.count("omnicall_bridge_kafka_errors_total", "stage", "produce") < 3 && System.nanoTime() < deadline) {
                Thread.sleep(50);
            }
            assertThat(metrics.count("omnicall_bridge_kafka_errors_total", "stage", "produce")).isEqualTo(3);
        }
    }
}
