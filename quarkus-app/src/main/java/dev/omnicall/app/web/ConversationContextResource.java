package dev.omnicall.app.web;

import dev.omnicall.events.ConversationTurn;
import dev.omnicall.state.ConversationState;
import dev.omnicall.topologies.ConversationTopology;
import jakarta.inject.Inject;
import jakarta.enterprise.inject.Instance;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.WebApplicationException;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StoreQueryParameters;
import org.apache.kafka.streams.errors.InvalidStateStoreException;
import org.apache.kafka.streams.state.QueryableStoreTypes;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * {@code GET /api/calls/{callId}/context}: the conversation history that the call's next TurnRequest will carry, read
 * from the streams role's {@code conversation-context} store through the Kafka Streams extension's client (an
 * interactive query). Text only: the caller audio kept for the model stays in the store. A process without the
 * streams role, or whose Streams instance does not hold the call's partition, answers 404.
 */
@Path("/api/calls/{callId}/context")
public class ConversationContextResource {

    /** Null where the streams role does not run (the extension then has no client). */
    @Inject
    Instance<KafkaStreams> streams;

    @GET
    @Produces(MediaType.APPLICATION_JSON)
    public Map<String, Object> context(@PathParam("callId") String callId) {
        KafkaStreams s = streams.get();
        if (s == null) {
            throw notFound("the streams role does not run in this process (omnicall.roles)");
        }
        ConversationState state;
        try {
            ReadOnlyKeyValueStore<String, ConversationState> store = s.store(StoreQueryParameters.fromNameAndType(
                    ConversationTopology.CONTEXT_STORE, QueryableStoreTypes.<String, ConversationState>keyValueStore()));
            state = store.get(callId);
        } catch (InvalidStateStoreException e) {
            throw new WebApplicationException(Response.status(Response.Status.SERVICE_UNAVAILABLE).type(MediaType.APPLICATION_JSON)
                    .entity(Map.of("error", "the conversation-context store cannot be read now (Kafka Streams " + s.state()
                            + "): " + e.getMessage())).build());
        }
        if (state == null) {
            throw notFound("no conversation context for call " + callId + " on this Streams instance");
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("callId", callId);
        out.put("turns", state.getTurns().stream().map(ConversationContextResource::turn).toList());
        out.put("pendingTurns", state.getPending().stream().map(p -> p.getTurnId()).toList());
        out.put("replyDrafts", state.getDrafts().stream().map(d -> d.getTurnId()).toList());
        return out;
    }

    /** A 404 whose body says why (a bare NotFoundException answers with an empty body). */
    private static WebApplicationException notFound(String why) {
        return new WebApplicationException(Response.status(Response.Status.NOT_FOUND).type(MediaType.APPLICATION_JSON)
                .entity(Map.of("error", why)).build());
    }

    private static Map<String, Object> turn(ConversationTurn t) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("turnId", t.getTurnId());
        m.put("userText", t.getUserText() == null ? null : t.getUserText().toString());
        m.put("assistantText", t.getAssistantText().toString());
        m.put("interrupted", t.getInterrupted());
        m.put("userAudio", t.getUserAudio() != null);
        return m;
    }
}
