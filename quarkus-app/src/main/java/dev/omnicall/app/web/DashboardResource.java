package dev.omnicall.app.web;

import dev.omnicall.app.boot.OmniCallRuntime;
import dev.omnicall.app.config.Role;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.smallrye.mutiny.Multi;
import jakarta.inject.Inject;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.NotFoundException;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import org.jboss.resteasy.reactive.RestStreamElementType;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * The dashboard's API. {@code GET /api/snapshot} returns the recent calls, the counters and the start-up
 * state; {@code GET /api/events} streams every watched event as it arrives (SSE, one JSON object per
 * event, numbered by {@code eventSeq}: the snapshot says the number of the latest event it holds, so the page
 * finds and repairs a lost event by the gap) plus a {@code counters} event every 2 s (with the latest number);
 * {@code GET /api/calls/{callId}/transcript} returns one call's conversation as lines, caller and bot in the order
 * spoken (a barged-in reply cut to what the caller heard).
 */
@Path("/api")
public class DashboardResource {

    @Inject
    OmniCallRuntime runtime;
    @Inject
    DashboardStream stream;
    @Inject
    MeterRegistry registry;

    @GET
    @Path("/events")
    @Produces(MediaType.SERVER_SENT_EVENTS)
    @RestStreamElementType(MediaType.APPLICATION_JSON)
    public Multi<Map<String, Object>> events() {
        // a tick the browser is not ready for is skipped: Mutiny's ticks fail the stream when a tick finds no demand,
        // which would end a slow browser's stream (a CPU-starved box, a busy tab) every time it fell 2 s behind
        Multi<Map<String, Object>> ticks = Multi.createFrom().ticks().every(Duration.ofSeconds(2)).onOverflow().drop()
                .map(t -> counters());
        return Multi.createBy().merging().streams(stream.subscribe(), ticks);
    }

    @GET
    @Path("/snapshot")
    @Produces(MediaType.APPLICATION_JSON)
    public Map<String, Object> snapshot() {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("status", status());
        out.put("counters", counters());
        if (runtime.dashboard() != null) {
            out.putAll(runtime.dashboard().snapshot());
        }
        return out;
    }

    @GET
    @Path("/calls/{callId}/transcript")
    @Produces(MediaType.APPLICATION_JSON)
    public Map<String, Object> transcript(@PathParam("callId") String callId) {
        if (runtime.dashboard() == null) {
            throw new NotFoundException("the dashboard is off (omnicall.dashboard.enabled=false)");
        }
        return runtime.dashboard().transcript(callId)
                .orElseThrow(() -> new NotFoundException("no call " + callId + " in the dashboard's recent calls"));
    }

    @GET
    @Path("/status")
    @Produces(MediaType.APPLICATION_JSON)
    public Map<String, Object> status() {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("phase", runtime.phase().name());
        runtime.failure().ifPresent(f -> out.put("failure", f));
        out.put("steps", runtime.steps());
        Map<String, Object> roles = new LinkedHashMap<>();
        for (Role r : Role.values()) {
            var s = runtime.roleStatus(r);
            roles.put(r.key(), Map.of("state", s.state().name(), "detail", s.detail()));
        }
        out.put("roles", roles);
        runtime.kafka().ifPresent(k -> out.put("kafka", k.bootstrapServers()));
        out.put("embeddedKafka", runtime.embedded().isPresent());
        return out;
    }

    private Map<String, Object> counters() {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("type", "counters");
        var m = runtime.metrics();
        out.put("activeCalls", m == null ? 0 : m.activeCalls());
        out.put("activeTurns", m == null ? 0 : m.activeTurns());
        out.put("topics", sumByTag("omnicall.observer.records", "topic"));
        out.put("unreadable", sumByTag("omnicall.observer.unreadable", "topic"));
        out.put("deadLetters", sumByTag("omnicall.dead.letters", "source_topic"));
        // the latest live event's number: a page behind it two ticks running lost the stream's tail (dashboard.js)
        out.put("eventSeq", runtime.dashboard() == null ? 0L : runtime.dashboard().eventSeq());
        return out;
    }

    private Map<String, Long> sumByTag(String name, String tag) {
        Map<String, Long> out = new TreeMap<>();
        for (Counter c : registry.find(name).counters()) {
            out.merge(c.getId().getTag(tag), (long) c.count(), Long::sum);
        }
        return out;
    }
}
