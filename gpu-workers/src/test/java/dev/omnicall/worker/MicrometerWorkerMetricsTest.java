package dev.omnicall.worker;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class MicrometerWorkerMetricsTest {

    @Test
    void shouldExposeGaugesCountersAndTimersTaggedWithInstanceWhenWorkerReports() {
        // Given a registry bound to worker w1
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        WorkerMetrics m = new MicrometerWorkerMetrics(registry, "w1");
        // When the worker reports
        m.queueDepth(3);
        m.activeTurns(2);
        m.decodeStep(2);
        m.tokens(2);
        m.tokens(5);
        m.deadLetter("oversized");
        m.deadLetter("oversized");
        m.cancellation("barge-in");
        m.turnCompleted(120_000);
        m.kvCache(true);
        m.transcription(true, 30_000);
        m.transcription(true, 10_000);
        m.transcription(false, 5_000);
        // Then each meter holds it, tagged with the instance
        assertThat(registry.get("omnicall.worker.queue.depth").tag("instance", "w1").gauge().value()).isEqualTo(3);
        assertThat(registry.get("omnicall.worker.turns.active").gauge().value()).isEqualTo(2);
        assertThat(registry.get("omnicall.worker.batch.size").summary().mean()).isEqualTo(2);
        assertThat(registry.get("omnicall.worker.tokens").counter().count()).isEqualTo(7);
        assertThat(registry.get("omnicall.worker.dead.letters").tag("reason", "oversized").counter().count()).isEqualTo(2);
        assertThat(registry.get("omnicall.worker.cancellations").tag("reason", "barge-in").counter().count()).isEqualTo(1);
        assertThat(registry.get("omnicall.worker.first.audio").timer().totalTime(java.util.concurrent.TimeUnit.MILLISECONDS))
                .isEqualTo(120.0);
        assertThat(registry.get("omnicall.worker.kv.cache").tag("result", "hit").counter().count()).isEqualTo(1);
        assertThat(registry.get("omnicall.worker.kv.cache").tag("result", "miss").counter().count()).isZero();
        // Prometheus: omnicall_worker_transcriptions_total{outcome}, omnicall_worker_transcription_decode_seconds
        assertThat(registry.get("omnicall.worker.transcriptions").tag("instance", "w1").tag("outcome", "ok").counter()
                .count()).isEqualTo(2);
        assertThat(registry.get("omnicall.worker.transcriptions").tag("outcome", "failed").counter().count()).isEqualTo(1);
        assertThat(registry.get("omnicall.worker.transcription.decode").timer().count()).isEqualTo(3);
        assertThat(registry.get("omnicall.worker.transcription.decode").timer()
                .totalTime(java.util.concurrent.TimeUnit.MILLISECONDS)).isEqualTo(45.0);
    }
}
