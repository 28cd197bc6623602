package dev.omnicall.app.trace;

import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;

/**
 * The tests' span exporter: every span the app makes, kept in memory (the test profile turns the SDK on). Beside a
 * SpanExporter bean Quarkus' OpenTelemetry extension makes no OTLP exporter, so the tests reach for no collector.
 */
@ApplicationScoped
public class InMemorySpans {

    @Produces
    @Singleton
    InMemorySpanExporter exporter() {
        return InMemorySpanExporter.create();
    }
}
