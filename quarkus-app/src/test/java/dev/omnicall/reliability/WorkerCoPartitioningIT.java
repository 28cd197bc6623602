package dev.omnicall.reliability;

import dev.omnicall.events.EndReason;
import dev.omnicall.events.TextDelta;
import dev.omnicall.kafka.Topics;
import dev.omnicall.reliability.support.Events;
import dev.omnicall.reliability.support.Figures;
import dev.omnicall.reliability.support.Roles;
import dev.omnicall.reliability.support.Tail;
import dev.omnicall.reliability.support.Waits;
import dev.omnicall.reliability.support.Writer;
import dev.omnicall.testbroker.TestBroker;
import org.apache.kafka.common.utils.Utils;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Regression test for BUG-1 (see README): ARCHITECTURE.md promises that "the partitions of a call land on one
 * worker (cancellation...)", but {@code InferenceWorker} subscribes to turn-requests and call-events with the
 * {@code CooperativeStickyAssignor}, which balances topic-partitions without keeping partition i of both
 * topics on the same member. With two workers, a call's CallEnded or BargeIn can be read by the worker that
 * does not run its turn, and the turn is never cancelled. Two workers, 3 partitions, one call per partition:
 * every call's turn must be cancelled by its CallEnded. Fails until the worker co-partitions its assignment.
 */
@Tag("reliability")
@Timeout(240)
class WorkerCoPartitioningIT extends ReliabilityTest {

    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final int PARTITIONS = 3;

    /** A call ID that Kafka's default partitioner puts on {@code partition}. */
    private static String callOnPartition(int partition) {
        while (true) {
            String id = "call-" + UUID.randomUUID();
            if (Utils.toPositive(Utils.murmur2(id.getBytes(StandardCharsets.UTF_8))) % PARTITIONS == partition) {
                return id;
            }
        }
    }

    private static List<TextDelta> deltas(Tail tail, String call) {
        return tail.values(Topics.RESPONSE_TEXT).stream().filter(d -> d.getCallId().toString().equals(call)).toList();
    }

    @Test
    void shouldCancelEveryCallsTurnOnCallEndedWhenTwoWorkersShareTheGroup() {
        // Given two workers in one group over 3 partitions, each call's reply generating
        TestBroker broker = keep(TestBroker.start(tmp.resolve("kafka"), PARTITIONS));
        Writer w = keep(new Writer(broker.settings(), Roles.SERDE));
        Tail tail = keep(new Tail(broker.settings(), Roles.SERDE, Topics.RESPONSE_TEXT));
        Roles.Worker w1 = keep(new Roles.Worker(Roles.endlessWorkerProperties(broker.bootstrapServers(), "cp-1", "cp-workers", 2000)));
        Roles.Worker w2 = keep(new Roles.Worker(Roles.endlessWorkerProperties(broker.bootstrapServers(), "cp-2", "cp-workers", 2000)));
        Waits.sleep(3000);   // the cooperative rebalance's second round
        List<String> calls = new ArrayList<>();
        for (int p = 0; p < PARTITIONS; p++) {
            calls.add(callOnPartition(p));
        }
        calls.forEach(c -> w.send(Topics.TURN_REQUESTS, c, Events.turnRequest(c, 0, Events.utterance(0.5, c.hashCode()))));
        Waits.until("every reply generating", WAIT, () -> calls.stream().allMatch(c -> !deltas(tail, c).isEmpty()));

        // When every call ends
        long t0 = System.nanoTime();
        calls.forEach(c -> w.send(Topics.CALL_EVENTS, c, Events.callEnded(c, EndReason.CALLER_HANGUP)));

        // Then every turn is cancelled, whichever worker runs it
        long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
        while (System.nanoTime() < deadline && !calls.stream().allMatch(c -> deltas(tail, c).stream().anyMatch(TextDelta::getCancelled))) {
            Waits.sleep(50);
        }
        List<Integer> notCancelled = new ArrayList<>();
        for (int p = 0; p < PARTITIONS; p++) {
            if (deltas(tail, calls.get(p)).stream().noneMatch(TextDelta::getCancelled)) {
                notCancelled.add(p);
            }
        }
        Figures.line("test=worker-co-partitioning workers=2 partitions=%d calls=%d not_cancelled_partitions=%s cancellations_cp1=%d"
                        + " cancellations_cp2=%d waited_ms=%d", PARTITIONS, calls.size(), notCancelled,
                w1.metrics.cancellations("call-ended"), w2.metrics.cancellations("call-ended"), Waits.msSince(t0));
        assertThat(notCancelled).as("partitions whose call kept generating after CallEnded").isEmpty();
    }
}
