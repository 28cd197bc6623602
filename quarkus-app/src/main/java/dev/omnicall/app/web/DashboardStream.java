package dev.omnicall.app.web;

import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.operators.multi.processors.BroadcastProcessor;
import jakarta.enterprise.context.ApplicationScoped;

import java.util.Map;

/**
 * Fans the observer's events out to every connected browser. Each subscriber gets its own bounded
 * buffer; a browser that stops reading for so long that 10 000 events pile up is disconnected (its
 * EventSource reconnects and reloads the snapshot) instead of holding memory without limit.
 */
@ApplicationScoped
public class DashboardStream {

    private static final int BUFFER = 10_000;

    private final BroadcastProcessor<Map<String, Object>> processor = BroadcastProcessor.create();

    /** Called from the single observer thread only (a broadcast processor wants serial calls). */
    public void publish(Map<String, Object> event) {
        processor.onNext(event);
    }

    public Multi<Map<String, Object>> subscribe() {
        return processor.onOverflow().buffer(BUFFER);
    }
}
