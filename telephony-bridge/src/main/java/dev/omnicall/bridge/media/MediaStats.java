package dev.omnicall.bridge.media;

/**
 * A snapshot of one call's media counters.
 *
 * @param packetsReceived        accepted RTP packets (audio and telephone-event)
 * @param packetsLost            RFC 3550 cumulative loss: expected minus received
 * @param jitterMs               RFC 3550 §6.4.1 interarrival jitter of the audio
 * @param packetsLate            arrived after their slot was played (dropped)
 * @param packetsConcealed       slots filled by the jitter buffer
 * @param packetsMalformed       not RTP per RFC 3550
 * @param packetsWrongPayloadType a payload type that was not negotiated
 * @param packetsUnknownSource   from an address other than the remote
 * @param packetsSent            RTP packets of reply audio sent
 * @param sendJitterP99Micros    99th percentile of send lateness against the absolute schedule
 * @param sendJitterMaxMicros    worst send lateness
 */
public record MediaStats(
        long packetsReceived,
        long packetsLost,
        double jitterMs,
        long packetsLate,
        long packetsConcealed,
        long packetsMalformed,
        long packetsWrongPayloadType,
        long packetsUnknownSource,
        long packetsSent,
        long sendJitterP99Micros,
        long sendJitterMaxMicros) {}
