package dev.omnicall.bridge.media;

/**
 * What the caller heard of an attempt whose playback was stopped (barge-in).
 *
 * @param turn            the attempt that was playing (or, if none had started, the first one queued)
 * @param playedMs        its reply audio that went out as RTP before the stop
 * @param playedTextChars the {@code textChars} of its last chunk that went out to its end: how much of the
 *                        reply text the caller heard; 0 when no chunk did, -1 when that chunk's worker did
 *                        not say (older worker)
 */
public record PlayedPart(TurnAttempt turn, int playedMs, int playedTextChars) {
}
