package dev.omnicall.app.trace;

import dev.omnicall.events.TurnTimings;

import java.util.function.Function;

/**
 * The stages of a turn's first-audio latency, each between the same two stamps as its field of the TurnMetrics record
 * (topologies' TurnMetricsCalculator), so a stage's span lasts exactly what turn-metrics reports for it.
 * {@link #REQUEST_TO_INFERENCE} is kept whole and split, as in TurnMetrics: its span is the parent of
 * {@link #REQUEST_TO_WORKER} and {@link #WORKER_QUEUE}.
 */
public enum TurnStage {

    /** TurnMetrics.vadWaitUs: the caller's last voiced frame to the VAD's end of turn (bridge). */
    VAD_WAIT("vad-wait", TurnTimings::getSpeechEndUs, TurnTimings::getEndOfTurnUs),
    /** bridgeToRequestUs: end of turn to the TurnRequest going out (bridge, Kafka, streams). */
    BRIDGE_TO_REQUEST("bridge-to-request", TurnTimings::getEndOfTurnUs, TurnTimings::getRequestProducedUs),
    /** requestToInferenceUs: the TurnRequest going out to inference starting (Kafka, worker queue). */
    REQUEST_TO_INFERENCE("request-to-inference", TurnTimings::getRequestProducedUs, TurnTimings::getInferenceStartUs),
    /** requestToWorkerUs: the Kafka hop from streams to the worker. */
    REQUEST_TO_WORKER("request-to-worker", TurnTimings::getRequestProducedUs, TurnTimings::getRequestConsumedUs),
    /** workerQueueUs: the wait in the worker for a batch slot. */
    WORKER_QUEUE("worker-queue", TurnTimings::getRequestConsumedUs, TurnTimings::getInferenceStartUs),
    /** encoderPrefillUs: log-mel, encoder, adaptor and LLM prefill. */
    ENCODER_PREFILL("encoder-prefill", TurnTimings::getInferenceStartUs, TurnTimings::getPrefillDoneUs),
    /** firstUnitsUs: decoding until the first Omega units leave the CTC decoder. */
    FIRST_UNITS("first-units", TurnTimings::getPrefillDoneUs, TurnTimings::getFirstUnitsUs),
    /** vocoderUs: the vocoder's first audio chunk. */
    VOCODER("vocoder", TurnTimings::getFirstUnitsUs, TurnTimings::getFirstAudioUs),
    /** chunkToBridgeUs: the first chunk from the vocoder to the bridge (worker, Kafka, bridge). */
    CHUNK_TO_BRIDGE("chunk-to-bridge", TurnTimings::getFirstAudioUs, TurnTimings::getChunkReceivedUs),
    /** bridgeToRtpUs: the first chunk at the bridge to the reply's first RTP packet. */
    BRIDGE_TO_RTP("bridge-to-rtp", TurnTimings::getChunkReceivedUs, TurnTimings::getFirstRtpUs);

    private final String spanName;
    private final Function<TurnTimings, Long> from;
    private final Function<TurnTimings, Long> to;

    TurnStage(String spanName, Function<TurnTimings, Long> from, Function<TurnTimings, Long> to) {
        this.spanName = spanName;
        this.from = from;
        this.to = to;
    }

    public String spanName() {
        return spanName;
    }

    /** The stage's first stamp (epoch µs), null when unknown. */
    Long fromUs(TurnTimings t) {
        return t == null ? null : from.apply(t);
    }

    /** The stage's second stamp (epoch µs), null when unknown. */
    Long toUs(TurnTimings t) {
        return t == null ? null : to.apply(t);
    }
}
