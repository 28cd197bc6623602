package dev.omnicall.app.bench;

import dev.omnicall.app.trace.TurnSpans;
import dev.omnicall.kafka.TurnTrace;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import org.apache.kafka.common.header.Headers;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;

import static org.assertj.core.api.Assertions.assertThat;

/** The trace-cost benchmark measures what it says: a whole traced turn on, nothing but the header copied off. */
class TraceCostBenchmarkTest {

    @Test
    void shouldMakeTheTenSpansOfOneTraceForEachTurnWhenTracingIsOn() {
        InMemorySpanExporter exporter = InMemorySpanExporter.create();
        try (SdkTracerProvider provider = SdkTracerProvider.builder()
                .addSpanProcessor(SimpleSpanProcessor.create(exporter)).build()) {
            Headers out = TraceCostBenchmark.oneTurn(new TurnSpans(provider.get("t"), new SimpleMeterRegistry()), 7);

            assertThat(exporter.getFinishedSpanItems()).hasSize(10);
            assertThat(exporter.getFinishedSpanItems()).extracting(SpanData::getTraceId).containsOnly(
                    exporter.getFinishedSpanItems().get(0).getTraceId());
            SpanData last = exporter.getFinishedSpanItems().stream().filter(s -> s.getName().equals("bridge-to-rtp"))
                    .findFirst().orElseThrow();
            assertThat(new String(TurnTrace.traceparent(out), StandardCharsets.UTF_8)).contains(last.getSpanId());
        }
    }

    @Test
    void shouldExportEverySpanOnAndNoneOff() {
        TraceCostBenchmark.Cost on = TraceCostBenchmark.measure(true, 200);
        TraceCostBenchmark.Cost off = TraceCostBenchmark.measure(false, 200);

        assertThat(on.spansExported()).isEqualTo(2000);
        assertThat(off.spansExported()).isZero();
        assertThat(on.threadCpuNanos()).isPositive();
        assertThat(on.wallUsPerTurn()).isPositive();
    }
}
