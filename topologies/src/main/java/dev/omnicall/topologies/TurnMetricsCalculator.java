package dev.omnicall.topologies;

import dev.omnicall.events.TurnMetrics;
import dev.omnicall.events.TurnTimings;

/**
 * The first-audio latency split of ARCHITECTURE.md, from a turn's stamps: end of caller speech (as the VAD
 * decided) to the first RTP packet of the reply, stage by stage. A stage whose two stamps are not both known
 * is null, never a made-up zero. request→inference is kept whole and also split into the Kafka hop
 * (requestProduced → requestConsumed) and the wait for a batch slot (requestConsumed → inferenceStart).
 */
public final class TurnMetricsCalculator {

    private TurnMetricsCalculator() {
    }

    public static TurnMetrics compute(String callId, int turnId, int attempt, TurnTimings t) {
        return TurnMetrics.newBuilder()
                .setCallId(callId).setTurnId(turnId).setAttempt(attempt).setTimings(t)
                .setVadWaitUs(between(t.getSpeechEndUs(), t.getEndOfTurnUs()))
                .setBridgeToRequestUs(between(t.getEndOfTurnUs(), t.getRequestProducedUs()))
                .setRequestToInferenceUs(between(t.getRequestProducedUs(), t.getInferenceStartUs()))
                // The same span split at the worker's consumption; null for records of workers before requestConsumedUs.
                .setRequestToWorkerUs(between(t.getRequestProducedUs(), t.getRequestConsumedUs()))
                .setWorkerQueueUs(between(t.getRequestConsumedUs(), t.getInferenceStartUs()))
                .setEncoderPrefillUs(between(t.getInferenceStartUs(), t.getPrefillDoneUs()))
                .setFirstUnitsUs(between(t.getPrefillDoneUs(), t.getFirstUnitsUs()))
                .setVocoderUs(between(t.getFirstUnitsUs(), t.getFirstAudioUs()))
                .setChunkToBridgeUs(between(t.getFirstAudioUs(), t.getChunkReceivedUs()))
                .setBridgeToRtpUs(between(t.getChunkReceivedUs(), t.getFirstRtpUs()))
                .setFirstAudioLatencyUs(between(t.getSpeechEndUs(), t.getFirstRtpUs()))
                .build();
    }

    private static Long between(Long from, Long to) {
        return from == null || to == null ? null : to - from;
    }
}
