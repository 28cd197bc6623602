package dev.omnicall.bridge.call;

import dev.omnicall.bridge.media.Segment;
import dev.omnicall.bridge.sdp.AudioCodec;
import dev.omnicall.events.AudioSegment;
import dev.omnicall.events.BargeIn;
import dev.omnicall.events.CallEnded;
import dev.omnicall.events.CallEvent;
import dev.omnicall.events.CallStarted;
import dev.omnicall.events.Codec;
import dev.omnicall.events.Dtmf;
import dev.omnicall.events.EndReason;
import dev.omnicall.events.PlaybackStarted;
import dev.omnicall.events.TurnConfirmed;
import dev.omnicall.events.TurnTimings;

import java.nio.ByteBuffer;

/** Builds the Avro records the bridge publishes, from SIP and media facts. */
public final class CallEvents {

    private final String bridgeId;

    public CallEvents(String bridgeId) {
        this.bridgeId = bridgeId;
    }

    private CallEvent event(String callId, long occurredUs, Object payload) {
        return CallEvent.newBuilder().setCallId(callId).setBridgeId(bridgeId).setOccurredUs(occurredUs)
                .setPayload(payload).build();
    }

    public CallEvent started(String callId, long nowUs, String from, String to, AudioCodec codec, int ptimeMs) {
        return event(callId, nowUs, CallStarted.newBuilder().setFrom(from).setTo(to)
                .setCodec(codec == AudioCodec.PCMA ? Codec.PCMA : Codec.PCMU).setPtimeMs(ptimeMs).build());
    }

    public CallEvent ended(String callId, long nowUs, EndReason reason, String detail) {
        return event(callId, nowUs, CallEnded.newBuilder().setReason(reason).setDetail(detail).build());
    }

    public CallEvent dtmf(String callId, long nowUs, char digit, int durationMs) {
        return event(callId, nowUs, Dtmf.newBuilder().setDigit(String.valueOf(digit)).setDurationMs(durationMs).build());
    }

    /** A barge-in from a bridge that does not know how much was played (playedMs, playedTextChars -1). */
    public CallEvent bargeIn(String callId, long atUs, int turnId, int attempt) {
        return bargeIn(callId, atUs, turnId, attempt, -1, -1);
    }

    /**
     * The caller spoke over {@code turnId}/{@code attempt}; {@code playedMs} of its audio went out as RTP and
     * {@code playedTextChars} of its text was voiced by the chunks played to their end.
     */
    public CallEvent bargeIn(String callId, long atUs, int turnId, int attempt, int playedMs, int playedTextChars) {
        return event(callId, atUs, BargeIn.newBuilder().setTurnId(turnId).setAttempt(attempt).setPlayedMs(playedMs)
                .setPlayedTextChars(playedTextChars).build());
    }

    public CallEvent playbackStarted(String callId, long nowUs, int turnId, int attempt, long chunkReceivedUs,
                                     long firstRtpUs) {
        return playbackStarted(callId, nowUs, turnId, attempt, chunkReceivedUs, firstRtpUs, 0);
    }

    /** As above; {@code confirmedUs} is when the end of a speculative turn was confirmed (0: not speculative). */
    public CallEvent playbackStarted(String callId, long nowUs, int turnId, int attempt, long chunkReceivedUs,
                                     long firstRtpUs, long confirmedUs) {
        return event(callId, nowUs, PlaybackStarted.newBuilder().setTurnId(turnId).setAttempt(attempt)
                .setChunkReceivedUs(chunkReceivedUs).setFirstRtpUs(firstRtpUs).setConfirmedUs(confirmedUs).build());
    }

    /** The end of speculative turn {@code turnId} is confirmed: its reply plays, the turn counts. */
    public CallEvent turnConfirmed(String callId, int turnId, long tentativeEndUs, long confirmedUs) {
        return event(callId, confirmedUs, TurnConfirmed.newBuilder().setTurnId(turnId).setTentativeEndUs(tentativeEndUs)
                .setConfirmedUs(confirmedUs).build());
    }

    /**
     * The caller went on before speculative turn {@code turnId} was confirmed: a BargeIn marked speculative (the
     * worker stops the turn as for any barge-in; the streams role drops it). Nothing of it was played.
     */
    public CallEvent speculationCancelled(String callId, long atUs, int turnId) {
        return event(callId, atUs, BargeIn.newBuilder().setTurnId(turnId).setAttempt(0).setPlayedMs(0)
                .setPlayedTextChars(0).setSpeculative(true).build());
    }

    /**
     * Maps a media segment onto Avro. The end-of-utterance segment carries the bridge's three stamps of
     * the latency split: speechEndUs and endOfTurnUs from the segmenter, segmentProducedUs = now.
     */
    public static AudioSegment segment(String callId, Segment s, long producedUs) {
        TurnTimings timings = null;
        if (s.endOfUtterance()) {
            timings = TurnTimings.newBuilder().setSpeechEndUs(s.speechEndUs()).setEndOfTurnUs(s.endOfTurnUs())
                    .setSegmentProducedUs(producedUs).build();
        }
        return AudioSegment.newBuilder().setCallId(callId).setUtteranceId(s.utteranceId()).setSeq(s.seq())
                .setSampleRate(Segment.SAMPLE_RATE).setPcm(ByteBuffer.wrap(s.pcm())).setVoiced(s.voiced())
                .setSpeechProbability(s.speechProbability()).setEndOfUtterance(s.endOfUtterance())
                .setCaptureStartUs(s.captureStartUs()).setCaptureEndUs(s.captureEndUs()).setTimings(timings)
                .setSpeculative(s.speculative()).setReplacesTurn(s.replacesTurn()).build();
    }
}
