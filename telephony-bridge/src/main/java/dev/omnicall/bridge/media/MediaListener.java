package dev.omnicall.bridge.media;

import dev.omnicall.bridge.rtp.DtmfDetector.DtmfDigit;
import java.net.InetSocketAddress;

/**
 * What a {@link MediaSession} reports. Caller-side events (segments, DTMF, barge-in, latching) come from
 * the session's receive thread, in order; playback events come from the pacer thread. Keep handlers
 * short (hand off to a producer); an exception thrown here is logged and does not stop the session.
 */
public interface MediaListener {

    /** A caller audio segment to publish on caller-audio. */
    default void onSegment(Segment segment) {}

    /** A DTMF key press (RFC 4733), reported once. */
    default void onDtmf(DtmfDigit digit) {}

    /** The caller spoke over {@code turn}: its playback is already stopped; cancel its generation. */
    default void onBargeIn(TurnAttempt turn, long epochMicros) {}

    /**
     * The caller spoke over {@code played.turn()}, having heard {@code played}; what the media session calls.
     * By default it reports the turn alone to {@link #onBargeIn(TurnAttempt, long)}.
     */
    default void onBargeIn(PlayedPart played, long epochMicros) {
        onBargeIn(played.turn(), epochMicros);
    }

    /** The first RTP packet of {@code turn} went out at {@code firstRtpEpochMicros}. */
    default void onPlaybackStarted(TurnAttempt turn, long firstRtpEpochMicros) {}

    /** The last packet of {@code turn} went out (not called for a stopped turn). */
    default void onPlaybackFinished(TurnAttempt turn) {}

    /**
     * The end of speculative turn {@code turnId} (its end-of-utterance segment was marked speculative) is confirmed:
     * its held reply now plays.
     */
    default void onSpeculationConfirmed(int turnId, long tentativeEndUs, long confirmedUs) {}

    /**
     * The caller went on before the end of speculative turn {@code turnId} was confirmed: nothing of its reply was
     * played ({@code droppedMs} of it had come and was dropped); cancel its generation. Its utterance continues in
     * segments that carry {@code replacesTurn = turnId}.
     */
    default void onSpeculationCancelled(int turnId, long tentativeEndUs, long cancelledUs, int droppedMs) {}

    /** With NAT latching on, the first packet fixed the remote address. */
    default void onRemoteLatched(InetSocketAddress remote) {}
}
