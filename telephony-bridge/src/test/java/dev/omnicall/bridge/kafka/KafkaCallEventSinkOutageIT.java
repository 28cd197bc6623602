package dev.omnicall.bridge.kafka;

import dev.omnicall.bridge.BridgeMetrics;
import dev.omnicall.kafka.EmbeddedKafka;
import dev.omnicall.kafka.SerdeConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.management.ManagementFactory;

import static dev.omnicall.bridge.kafka.KafkaCallEventSinkTest.segment;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Regression test for BUG-3 of the reliability suite: with Kafka 4's default {@code
 * metadata.recovery.strategy=rebootstrap} the sink's producer dropped its metadata when the broker went away, so
 * the sender thread waited in {@code waitOnMetadata} instead of filling the producer's buffer, and a long outage
 * (50 calls, broker SIGKILLed, 44 s down) lost 3.5 k AudioSegments on the full queue.
 */
@Timeout(60)
class KafkaCallEventSinkOutageIT {

    /** Where the sink's sender thread is now, as "Class.method" frames. */
    private static String senderStack(String clientId) {
        StringBuilder sb = new StringBuilder();
        for (var info : ManagementFactory.getThreadMXBean().dumpAllThreads(false, false)) {
            if (info.getThreadName().equals(clientId + "-kafka-sender")) {
                for (StackTraceElement e : info.getStackTrace()) {
                    sb.append(e.getClassName()).append('.').append(e.getMethodName()).append('\n');
                }
            }
        }
        return sb.toString();
    }

    @Test
    void shouldBufferInTheProducerNotWaitForMetadataWhenTheBrokerGoesAway() throws Exception {
        // Given a sink that has published to a live broker, so its producer knows the topic
        EmbeddedKafka kafka = EmbeddedKafka.start(EmbeddedKafka.Options.forTests().withPartitions(1));
        BridgeMetrics metrics = BridgeMetrics.inMemory();
        try (kafka; KafkaCallEventSink sink = new KafkaCallEventSink(kafka.settings(), SerdeConfig.embedded(), "sink-outage", metrics)) {
            kafka.createTopics();
            sink.audioSegment(segment(0));
            sink.flush();

            // When the broker goes away and the media threads go on handing it segments for 2 s
            kafka.close();
            StringBuilder waits = new StringBuilder();
            for (int i = 1; i <= 40; i++) {
                sink.audioSegment(segment(i));
                Thread.sleep(50);
                String stack = senderStack("sink-outage");
                if (stack.contains("waitOnMetadata")) {
                    waits.append(i).append(' ');
                }
            }

            // Then the sender never waits for metadata (before the fix it did from ~0.1 s after the broker left,
            // for max.block.ms per record): the segments sit in the producer's buffer, nothing failed
            assertThat(waits).as("samples with the sender in waitOnMetadata").isEmpty();
            assertThat(metrics.count("omnicall_bridge_kafka_errors_total", "stage", "produce")).isZero();
        }
    }

}
