package dev.omnicall.app.trace;

import dev.omnicall.kafka.TurnTrace;
import io.micrometer.core.instrument.MeterRegistry;
import io.opentelemetry.api.OpenTelemetry;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Instance;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

/**
 * The roles' trace hook: {@link TurnSpans} on the OpenTelemetry SDK of Quarkus' extension when the SDK is on (an
 * OTLP endpoint is set, {@link TracingSwitch}), else {@link TurnTrace#RELAY} (no spans; a traceparent that comes in
 * goes on unchanged).
 */
@ApplicationScoped
public class TracingProducer {

    private static final Logger LOG = Logger.getLogger(TracingProducer.class);
    /** The instrumentation scope of the turn spans. */
    public static final String SCOPE = "dev.omnicall.turn";

    @Produces
    @Singleton
    TurnTrace turnTrace(@ConfigProperty(name = TracingSwitch.SDK_DISABLED, defaultValue = "false") boolean sdkDisabled,
                        Instance<OpenTelemetry> openTelemetry, MeterRegistry registry) {
        if (sdkDisabled) {
            LOG.info("turn traces off (set quarkus.otel.exporter.otlp.endpoint to export them)");
            return TurnTrace.RELAY;
        }
        LOG.info("turn traces on: one OpenTelemetry trace per turn, its context in the Kafka record headers");
        return new TurnSpans(openTelemetry.get().getTracer(SCOPE), registry);
    }
}
