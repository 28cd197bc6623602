package dev.omnicall.bridge.media;

/**
 * Counters of the media layer, shared by all calls of a bridge. The application binds them to its
 * registry ({@link MicrometerMediaMetrics}); tests and the benchmark use {@link CountingMediaMetrics}.
 * Implementations must be thread-safe and cheap: they are called per packet.
 */
public interface MediaMetrics {

    /** A packet that parsed, came from the remote and carries a negotiated payload type. */
    void packetReceived();

    /** Packets concealed by the jitter buffer because they never came. */
    void packetsLost(long count);

    /** A packet that came after its slot had been played (dropped). */
    void packetLate();

    /** Bytes that are not RTP per RFC 3550 (truncated header, bad version, bad padding...). */
    void packetMalformed();

    /** RTP with a payload type that was not negotiated. */
    void packetWrongPayloadType();

    /** A datagram from an address other than the negotiated (or latched) remote. */
    void packetUnknownSource();

    void packetSent();

    /** A packet not sent because the socket's send buffer was full (the non-blocking send took nothing). */
    default void sendDropped() {}

    /** A packet left this many µs after its scheduled time. */
    void sendLatenessMicros(long micros);

    void bargeIn();

    void dtmfDigit();

    void segmentEmitted();

    /** A reply chunk not queued: duplicate, other attempt, stopped turn, overflow... */
    void chunkRejected(PlayoutBuffer.Outcome outcome);

    /** A speculative turn started (tentative end), was confirmed, or was cancelled (the caller went on). */
    default void speculation(String outcome) {}

    /**
     * An utterance ended after {@code silenceMs} of trailing silence, the wait chosen for it ({@code reason}: fixed,
     * or the adaptive rule: finished, unfinished, dtmf, pausing, base).
     */
    default void endOfTurnWait(int silenceMs, String reason) {}

    MediaMetrics NOOP = new MediaMetrics() {
        @Override public void packetReceived() {}
        @Override public void packetsLost(long count) {}
        @Override public void packetLate() {}
        @Override public void packetMalformed() {}
        @Override public void packetWrongPayloadType() {}
        @Override public void packetUnknownSource() {}
        @Override public void packetSent() {}
        @Override public void sendLatenessMicros(long micros) {}
        @Override public void bargeIn() {}
        @Override public void dtmfDigit() {}
        @Override public void segmentEmitted() {}
        @Override public void chunkRejected(PlayoutBuffer.Outcome outcome) {}
    };
}
