package dev.omnicall.reliability;

import dev.omnicall.bridge.testing.FreePorts;

import dev.omnicall.events.CallEnded;
import dev.omnicall.events.CallEvent;
import dev.omnicall.events.CallStarted;
import dev.omnicall.events.EndReason;
import dev.omnicall.events.TextDelta;
import dev.omnicall.kafka.Topics;
import dev.omnicall.reliability.support.CallerAudio;
import dev.omnicall.reliability.support.CancelChecks;
import dev.omnicall.reliability.support.Events;
import dev.omnicall.reliability.support.Figures;
import dev.omnicall.reliability.support.Roles;
import dev.omnicall.reliability.support.SippCaller;
import dev.omnicall.reliability.support.Tail;
import dev.omnicall.reliability.support.Waits;
import dev.omnicall.reliability.support.Writer;
import dev.omnicall.testbroker.TestBroker;
import org.apache.kafka.common.utils.Utils;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Guarantee: calls on a stopped bridge end cleanly and nobody keeps generating for them. Live sipp calls
 * whose replies two workers (one group, 3 partitions) are generating; the bridge stops: every caller gets a
 * BYE, every call gets CallEnded(BRIDGE_SHUTDOWN), every turn is cancelled by the worker that runs it and no
 * delta follows; a new bridge on the same SIP port answers new calls.
 */
@Tag("reliability")
@Timeout(300)
class BridgeRestartIT extends ReliabilityTest {

    private static final Duration WAIT = Duration.ofSeconds(90);
    private static final int CALLS = 4;

    private static int partitionOf(String callId, int partitions) {
        return Utils.toPositive(Utils.murmur2(callId.getBytes(StandardCharsets.UTF_8))) % partitions;
    }

    @Test
    void shouldEndCallsCancelTheirTurnsAndAnswerNewCallsWhenTheBridgeRestarts() throws Exception {
        // Given two workers over 3 partitions, and a bridge with live calls whose replies are generating
        TestBroker broker = keep(TestBroker.start(tmp.resolve("kafka"), 3));
        Writer w = keep(new Writer(broker.settings(), Roles.SERDE));
        Tail tail = keep(new Tail(broker.settings(), Roles.SERDE, Topics.CALL_EVENTS, Topics.RESPONSE_TEXT));
        Roles.Worker w1 = keep(new Roles.Worker(Roles.endlessWorkerProperties(broker.bootstrapServers(), "rw-1", "restart-workers", 2000)));
        Roles.Worker w2 = keep(new Roles.Worker(Roles.endlessWorkerProperties(broker.bootstrapServers(), "rw-2", "restart-workers", 2000)));
        int sipPort = FreePorts.udpAndTcp();
        Roles.Bridge bridge = new Roles.Bridge(broker.settings(), "restart-bridge", sipPort, 10, 50, 50);
        Path quiet = CallerAudio.quiet(tmp, "quiet", 2);
        SippCaller callers = SippCaller.start(tmp, "call_stream_until_bye.xml",
                Map.of("AUDIO", quiet.toString(), "LOOPS", "-1", "WAIT_MS", "200000"), sipPort, CALLS, 10, CALLS);
        Waits.until(CALLS + " calls up", WAIT, () -> bridge.liveCalls().size() == CALLS);
        List<String> calls = List.copyOf(bridge.liveCalls());
        for (String call : calls) {
            w.send(Topics.TURN_REQUESTS, call, Events.turnRequest(call, 0, Events.utterance(0.5, call.hashCode())));
        }
        Waits.until("every call's reply generating", WAIT, () -> calls.stream().allMatch(c -> !tail.deltasOf(c).isEmpty()));
        assertThat(calls).allMatch(c -> tail.deltasOf(c).stream().noneMatch(TextDelta::getLast));

        // When the bridge stops
        long stopNanos = System.nanoTime();
        bridge.close();
        long stopMs = Waits.msSince(stopNanos);

        // Then every caller got a BYE, and every call a CallEnded(BRIDGE_SHUTDOWN)
        assertThat(callers.await(30)).as(callers.errors()).isZero();
        Map<String, CallEnded> ended = new LinkedHashMap<>();
        for (String call : calls) {
            CallEvent e = tail.await(Topics.CALL_EVENTS, ev -> ev.getCallId().toString().equals(call) && ev.getPayload() instanceof CallEnded,
                    WAIT, "CallEnded of " + call);
            ended.put(call, (CallEnded) e.getPayload());
        }
        assertThat(ended.values()).extracting(CallEnded::getReason).containsOnly(EndReason.BRIDGE_SHUTDOWN);

        // And every turn is cancelled by its worker, with nothing generated after the cancel
        Waits.until("every turn cancelled", WAIT, () -> calls.stream().allMatch(c -> tail.deltasOf(c).stream()
                .anyMatch(d -> d.getLast() && d.getCancelled())));
        long allCancelledMs = Waits.msSince(stopNanos);
        CancelChecks.assertNothingGeneratedAfterTheCancel(tail, calls, 2000);
        assertThat(w1.metrics.cancellations("call-ended") + w2.metrics.cancellations("call-ended")).isEqualTo(CALLS);

        // When a new bridge starts on the same SIP port
        long restartNanos = System.nanoTime();
        Roles.Bridge again = keep(new Roles.Bridge(broker.settings(), "restart-bridge", sipPort, 10, 50, 50));
        long restartMs = Waits.msSince(restartNanos);
        long since = dev.omnicall.kafka.Clock.nowMicros();
        SippCaller next = SippCaller.start(tmp, "call_stream_bye.xml",
                Map.of("AUDIO", quiet.toString(), "LOOPS", "1", "PAUSE_MS", "1000"), sipPort, 1, 1, 1);

        // Then it answers and the call runs to a normal end
        assertThat(next.await(60)).as(next.errors()).isZero();
        CallEvent started = tail.await(Topics.CALL_EVENTS, e -> e.getPayload() instanceof CallStarted && e.getOccurredUs() >= since,
                WAIT, "a CallStarted on the new bridge");
        assertThat(again.liveCalls()).doesNotContain(started.getCallId().toString());
        Figures.note("calls on partitions %s; cancellations rw-1 %d, rw-2 %d",
                calls.stream().map(c -> partitionOf(c, 3)).toList(), w1.metrics.cancellations("call-ended"),
                w2.metrics.cancellations("call-ended"));
        Figures.line("test=bridge-restart calls=%d bye_and_call_ended=%d stop_ms=%d all_cancelled_ms=%d restart_ms=%d"
                        + " deltas_after_cancel=0 new_call_answered=true",
                CALLS, ended.size(), stopMs, allCancelledMs, restartMs);
    }
}
