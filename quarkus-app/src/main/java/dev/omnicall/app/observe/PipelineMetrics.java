package dev.omnicall.app.observe;

import dev.omnicall.events.CallerText;
import dev.omnicall.events.TurnMetrics;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * The pipeline-wide meters, fed by the {@link PipelineObserver} from the topics (so they describe the
 * whole deployment, not one pod). Prometheus names, as scraped at {@code /q/metrics}:
 *
 * <ul>
 *   <li>{@code omnicall_calls_active}, {@code omnicall_turns_active} (gauges)</li>
 *   <li>{@code omnicall_calls_started_total}, {@code omnicall_calls_ended_total{reason}},
 *       {@code omnicall_barge_ins_total}, {@code omnicall_turns_completed_total}</li>
 *   <li>{@code omnicall_first_audio_latency_seconds} (histogram: end of caller speech to first RTP packet)</li>
 *   <li>{@code omnicall_turn_stage_latency_seconds{stage}} (histogram per stage of the split)</li>
 *   <li>{@code omnicall_caller_texts_total{truncated}} (caller-text records: one per transcribed turn attempt),
 *       {@code omnicall_caller_text_decode_seconds} (histogram: the Whisper decoder's wall time per utterance,
 *       decodeStartUs to decodeDoneUs, interleaved with the reply's decode steps)</li>
 *   <li>{@code omnicall_dead_letters_total{source_topic,stage}}</li>
 *   <li>{@code omnicall_observer_records_total{topic}}, {@code omnicall_observer_unreadable_total{topic}},
 *       {@code omnicall_observer_poll_errors_total}</li>
 * </ul>
 */
public final class PipelineMetrics {

    /**
     * Stage names of the latency split, in pipeline order (the TurnMetrics fields, in snake case).
     * {@code request_to_worker} (the Kafka hop of the TurnRequest) and {@code worker_queue} (its wait for a
     * batch slot) split {@code request_to_inference}; a turn reports either the two of them or, when the
     * worker did not stamp {@code requestConsumedUs} (a worker built before TurnTimings v2), the combined one,
     * never both, so the stages of a turn still add up to its first-audio latency.
     */
    public static final List<String> STAGES = List.of("vad_wait", "bridge_to_request", "request_to_worker",
            "worker_queue", "request_to_inference", "encoder_prefill", "first_units", "vocoder", "chunk_to_bridge",
            "bridge_to_rtp");

    private static final Duration[] LATENCY_BUCKETS = {
            Duration.ofMillis(50), Duration.ofMillis(100), Duration.ofMillis(200), Duration.ofMillis(300),
            Duration.ofMillis(500), Duration.ofMillis(750), Duration.ofSeconds(1), Duration.ofMillis(1500),
            Duration.ofSeconds(2), Duration.ofSeconds(3), Duration.ofSeconds(5), Duration.ofSeconds(10)};

    private final MeterRegistry registry;
    private final Set<String> activeCalls = ConcurrentHashMap.newKeySet();
    private final Set<String> activeTurns = ConcurrentHashMap.newKeySet();
    private final Timer firstAudio;
    private final Counter turnsCompleted;
    private final Counter bargeIns;
    private final Counter callsStarted;
    private final Counter pollErrors;
    private final Timer callerTextDecode;

    public PipelineMetrics(MeterRegistry registry) {
        this.registry = registry;
        Gauge.builder("omnicall.calls.active", activeCalls, Set::size)
                .description("calls started and not yet ended, as seen on call-events").register(registry);
        Gauge.builder("omnicall.turns.active", activeTurns, Set::size)
                .description("turns whose reply text is streaming (first delta seen, final not yet)").register(registry);
        firstAudio = Timer.builder("omnicall.first.audio.latency")
                .description("end of caller speech (VAD) to the first RTP packet of the reply, from turn-metrics")
                .serviceLevelObjectives(LATENCY_BUCKETS).register(registry);
        turnsCompleted = Counter.builder("omnicall.turns.completed").description("turn-metrics records seen").register(registry);
        bargeIns = Counter.builder("omnicall.barge.ins").description("BargeIn events seen").register(registry);
        callsStarted = Counter.builder("omnicall.calls.started").description("CallStarted events seen").register(registry);
        callerTextDecode = Timer.builder("omnicall.caller.text.decode")
                .description("the worker's Whisper decoder on one utterance, start to done (wall time, interleaved with the reply), from caller-text")
                .serviceLevelObjectives(LATENCY_BUCKETS).register(registry);
        pollErrors = Counter.builder("omnicall.observer.poll.errors").description("failed polls of the dashboard consumer").register(registry);
    }

    public void recordRead(String topic) {
        Counter.builder("omnicall.observer.records").tag("topic", topic).register(registry).increment();
    }

    public void unreadable(String topic) {
        Counter.builder("omnicall.observer.unreadable").tag("topic", topic)
                .description("records the dashboard consumer could not decode").register(registry).increment();
    }

    public void pollError() {
        pollErrors.increment();
    }

    public void deadLetter(String sourceTopic, String stage) {
        Counter.builder("omnicall.dead.letters").tag("source_topic", sourceTopic).tag("stage", stage)
                .description("records on the dead-letters topic").register(registry).increment();
    }

    public void callStarted(String callId) {
        if (activeCalls.add(callId)) {
            callsStarted.increment();
        }
    }

    public void callEnded(String callId, String reason) {
        activeCalls.remove(callId);
        activeTurns.removeIf(k -> k.startsWith(callId + "/"));
        Counter.builder("omnicall.calls.ended").tag("reason", reason).register(registry).increment();
    }

    /** A speculative turn's outcome as turn-metrics report it: confirmed or cancelled. */
    public void speculation(String outcome) {
        Counter.builder("omnicall.speculative.turns").tag("outcome", outcome)
                .description("speculative turns by outcome, from turn-metrics").register(registry).increment();
    }

    public void bargeIn() {
        bargeIns.increment();
    }

    public void callerText(CallerText c) {
        Counter.builder("omnicall.caller.texts").tag("truncated", String.valueOf(c.getTruncated()))
                .description("caller-text records seen (the caller's words of one turn attempt)").register(registry).increment();
        long us = c.getDecodeDoneUs() - c.getDecodeStartUs();
        if (us >= 0) {
            callerTextDecode.record(us, TimeUnit.MICROSECONDS);
        }
    }

    public void textDelta(String callId, int turnId, int attempt, boolean last) {
        String key = callId + "/" + turnId + "/" + attempt;
        if (last) {
            activeTurns.remove(key);
        } else {
            activeTurns.add(key);
        }
    }

    public void turnMetrics(TurnMetrics m) {
        if (m.getSpeculation() == dev.omnicall.events.SpeculationOutcome.CANCELLED) {
            // a speculative turn the caller talked on from: no first audio; what it cost is the capacity figure
            speculation("cancelled");
            if (m.getCancelledWorkUs() != null) {
                Timer.builder("omnicall.speculation.cancelled.work")
                        .description("model time spent on cancelled speculative turns (inference start to cancel)")
                        .serviceLevelObjectives(LATENCY_BUCKETS).register(registry)
                        .record(m.getCancelledWorkUs(), TimeUnit.MICROSECONDS);
            }
            return;
        }
        if (m.getSpeculation() == dev.omnicall.events.SpeculationOutcome.CONFIRMED) {
            speculation("confirmed");
            if (m.getConfirmWaitUs() != null) {
                Timer.builder("omnicall.speculation.confirm.wait")
                        .description("how long a speculative turn's first chunk waited at the bridge for the end of turn")
                        .serviceLevelObjectives(LATENCY_BUCKETS).register(registry)
                        .record(m.getConfirmWaitUs(), TimeUnit.MICROSECONDS);
            }
        }
        turnsCompleted.increment();
        if (m.getFirstAudioLatencyUs() != null) {
            firstAudio.record(m.getFirstAudioLatencyUs(), TimeUnit.MICROSECONDS);
        }
        stageValues(m).forEach((stage, us) -> Timer.builder("omnicall.turn.stage.latency").tag("stage", stage)
                .description("one stage of the first-audio latency split, from turn-metrics")
                .serviceLevelObjectives(LATENCY_BUCKETS).register(registry).record(us, TimeUnit.MICROSECONDS));
    }

    /** The stages of {@code m} that have a value, in pipeline order, in microseconds. */
    public static Map<String, Long> stageValues(TurnMetrics m) {
        boolean split = m.getRequestToWorkerUs() != null && m.getWorkerQueueUs() != null;
        Map<String, Long> out = new LinkedHashMap<>();
        for (String stage : STAGES) {
            Long v = switch (stage) {
                case "vad_wait" -> m.getVadWaitUs();
                case "bridge_to_request" -> m.getBridgeToRequestUs();
                case "request_to_worker" -> split ? m.getRequestToWorkerUs() : null;
                case "worker_queue" -> split ? m.getWorkerQueueUs() : null;
                case "request_to_inference" -> split ? null : m.getRequestToInferenceUs();
                case "encoder_prefill" -> m.getEncoderPrefillUs();
                case "first_units" -> m.getFirstUnitsUs();
                case "vocoder" -> m.getVocoderUs();
                case "chunk_to_bridge" -> m.getChunkToBridgeUs();
                case "bridge_to_rtp" -> m.getBridgeToRtpUs();
                default -> null;
            };
            if (v != null) {
                out.put(stage, v);
            }
        }
        return out;
    }

    public int activeCalls() {
        return activeCalls.size();
    }

    public int activeTurns() {
        return activeTurns.size();
    }
}
