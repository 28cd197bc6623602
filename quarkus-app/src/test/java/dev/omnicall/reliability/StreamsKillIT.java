package dev.omnicall.reliability;

import dev.omnicall.events.ConversationTurn;
import dev.omnicall.events.TurnRequest;
import dev.omnicall.kafka.Topics;
import dev.omnicall.reliability.proc.StreamsMain;
import dev.omnicall.reliability.support.ChildJvm;
import dev.omnicall.reliability.support.Events;
import dev.omnicall.reliability.support.Figures;
import dev.omnicall.reliability.support.Roles;
import dev.omnicall.reliability.support.Tail;
import dev.omnicall.reliability.support.Waits;
import dev.omnicall.reliability.support.Writer;
import dev.omnicall.testbroker.TestBroker;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.UUID;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Guarantee: the streams role is exactly-once with changelogged state. The role runs as its own JVM
 * ({@link StreamsMain}); it is killed with SIGKILL in the middle of a reply, the rest of the reply arrives
 * while it is down, and it is started again on an EMPTY state directory: the conversation context must come
 * back from the changelog, so the next turn carries the whole reply as history, and no TurnRequest is
 * emitted twice.
 */
@Timeout(240)
class StreamsKillIT extends ReliabilityTest {

    private static final Duration WAIT = Duration.ofSeconds(90);

    private ChildJvm startStreams(TestBroker broker, String name, Path stateDir) throws Exception {
        return keep(ChildJvm.start(name, StreamsMain.class, List.of(),
                List.of("kafka.bootstrap.servers=" + broker.bootstrapServers(), "state-dir=" + stateDir,
                        "application-id=kill-streams"), tmp.resolve("logs")));
    }

    private static void utterance(Writer w, String call, int id) {
        for (int seq = 0; seq < 3; seq++) {
            w.send(Topics.CALLER_AUDIO, call, Events.segment(call, id, seq, 1600, seq == 2));
        }
    }

    private static List<TurnRequest> requests(Tail tail, String call, int turn) {
        return tail.values(Topics.TURN_REQUESTS).stream()
                .filter(r -> r.getCallId().toString().equals(call) && r.getTurnId() == turn).toList();
    }

    @Test
    void shouldRestoreTheContextFromTheChangelogWhenTheStreamsProcessIsKilledMidReply() throws Exception {
        // Given the streams role in its own JVM and a call with one answered... half-answered turn
        TestBroker broker = keep(TestBroker.start(tmp.resolve("kafka"), 2));
        Writer w = keep(new Writer(broker.settings(), Roles.SERDE));
        Tail tail = keep(new Tail(broker.settings(), Roles.SERDE, Topics.TURN_REQUESTS, Topics.DEAD_LETTERS));
        ChildJvm first = startStreams(broker, "streams-1", tmp.resolve("state-1"));
        first.awaitLine(l -> l.startsWith("READY"), WAIT);
        String call = "call-" + UUID.randomUUID();
        w.send(Topics.CALL_EVENTS, call, Events.callStarted(call));
        utterance(w, call, 0);
        Waits.until("turn 0", WAIT, () -> requests(tail, call, 0).size() == 1);
        w.send(Topics.RESPONSE_TEXT, call, Events.delta(call, 0, 1, 0, "Your table", false));
        w.send(Topics.RESPONSE_TEXT, call, Events.delta(call, 0, 1, 1, " for two", false));
        Waits.sleep(500);   // a few 20 ms commits go by, so the deltas are in the changelog

        // When the process is killed with SIGKILL, the reply ends while it is down,
        long killNanos = System.nanoTime();
        first.kill9();
        w.send(Topics.RESPONSE_TEXT, call, Events.delta(call, 0, 1, 2, " is booked.", true));
        // and it comes back on an empty state directory
        ChildJvm second = startStreams(broker, "streams-2", tmp.resolve("state-2"));
        String ready = second.awaitLine(l -> l.startsWith("READY"), WAIT);
        long readyMs = Waits.msSince(killNanos);
        utterance(w, call, 1);
        Waits.until("turn 1", WAIT, () -> requests(tail, call, 1).size() >= 1);
        long recoveredMs = Waits.msSince(killNanos);

        // Then turn 1 carries the whole reply of turn 0 as history, and no request was emitted twice
        TurnRequest next = requests(tail, call, 1).get(0);
        assertThat(next.getHistory()).extracting(ConversationTurn::getAssistantText).containsExactly("Your table for two is booked.");
        Waits.sleep(1000);
        assertThat(requests(tail, call, 0)).hasSize(1);
        assertThat(requests(tail, call, 1)).hasSize(1);
        assertThat(tail.values(Topics.DEAD_LETTERS)).isEmpty();
        String restore = second.lines().stream().filter(l -> l.startsWith("METRICS")).reduce((a, b) -> b).orElse("");
        Figures.note("restarted: %s; kill -> READY %d ms, kill -> turn 1 with history %d ms; %s", ready, readyMs, recoveredMs, restore);
        Figures.line("test=streams-kill kill_to_ready_ms=%d kill_to_next_turn_ms=%d history_turns=%d duplicate_requests=0 lost_deltas=0",
                readyMs, recoveredMs, next.getHistory().size());
    }
}
