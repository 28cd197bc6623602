package dev.omnicall.bridge.call;

import dev.omnicall.bridge.media.MediaListener;
import dev.omnicall.bridge.media.MediaSession;
import dev.omnicall.bridge.media.PlayedPart;
import dev.omnicall.bridge.media.PlayoutBuffer;
import dev.omnicall.bridge.media.Segment;
import dev.omnicall.bridge.media.TurnAttempt;
import dev.omnicall.bridge.rtp.DtmfDetector.DtmfDigit;
import dev.omnicall.bridge.sip.SipCall;
import dev.omnicall.events.AudioChunk;
import dev.omnicall.events.EndReason;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.LongSupplier;

/**
 * One call: its SIP dialog, its media session, and the events it publishes. Media callbacks arrive on
 * the media session's threads and go straight to the (non-blocking) sink.
 */
public final class CallSession implements MediaListener {

    private final String callId;
    private final SipCall sip;
    private final MediaSession media;
    private final CallEventSink sink;
    private final CallEvents events;
    private final LongSupplier clockUs;
    private final Map<TurnAttempt, Long> firstChunkReceivedUs = new ConcurrentHashMap<>();
    /** Speculative turns confirmed and not yet started: when they were confirmed, for PlaybackStarted. */
    private final Map<Integer, Long> confirmedUs = new ConcurrentHashMap<>();
    private final AtomicBoolean started = new AtomicBoolean();
    private final AtomicBoolean ended = new AtomicBoolean();
    private volatile boolean onHold;
    // RTP inactivity watch, touched only by the CallManager's timer thread
    long lastPacketsReceived = -1;
    long lastProgressNanos;

    CallSession(String callId, SipCall sip, MediaSession media, CallEventSink sink, CallEvents events,
                LongSupplier clockUs) {
        this.callId = callId;
        this.sip = sip;
        this.media = media;
        this.sink = sink;
        this.events = events;
        this.clockUs = clockUs;
    }

    public String callId() {
        return callId;
    }

    public SipCall sip() {
        return sip;
    }

    public MediaSession media() {
        return media;
    }

    boolean isStarted() {
        return started.get();
    }

    boolean isOnHold() {
        return onHold;
    }

    /** The 200 OK went out: start media and announce the call. */
    void start(long nowNanos) {
        if (started.compareAndSet(false, true)) {
            lastProgressNanos = nowNanos;
            media.start(this);
            sink.callEvent(events.started(callId, clockUs.getAsLong(), sip.from(), sip.to(), sip.media().codec(),
                    sip.media().ptimeMs()));
        }
    }

    void hold(boolean on) {
        onHold = on;
        media.hold(on);
    }

    /** Hands one reply chunk to the media session; remembers when the first chunk of an attempt came. */
    PlayoutBuffer.Outcome play(AudioChunk chunk, long receivedUs) {
        TurnAttempt turn = new TurnAttempt(chunk.getTurnId(), chunk.getAttempt());
        firstChunkReceivedUs.putIfAbsent(turn, receivedUs);
        byte[] pcm = new byte[chunk.getPcm().remaining()];
        chunk.getPcm().duplicate().get(pcm);
        return media.playChunk(chunk.getTurnId(), chunk.getAttempt(), chunk.getSeq(), chunk.getSampleRate(), pcm,
                chunk.getLast(), chunk.getTextChars());
    }

    /** Closes the media and publishes CallEnded, once; false when the call had already ended. */
    boolean end(EndReason reason, String detail) {
        if (!ended.compareAndSet(false, true)) {
            return false;
        }
        media.close();
        sink.callEvent(events.ended(callId, clockUs.getAsLong(), reason, detail));
        return true;
    }

    boolean isEnded() {
        return ended.get();
    }

    // ---- media events -----------------------------------------------------------------------------------

    @Override
    public void onSegment(Segment segment) {
        sink.audioSegment(CallEvents.segment(callId, segment, clockUs.getAsLong()));
    }

    @Override
    public void onDtmf(DtmfDigit digit) {
        sink.callEvent(events.dtmf(callId, clockUs.getAsLong(), digit.digit(), digit.durationMs()));
    }

    @Override
    public void onBargeIn(PlayedPart played, long epochMicros) {
        TurnAttempt turn = played.turn();
        sink.callEvent(events.bargeIn(callId, epochMicros, turn.turnId(), turn.attempt(), played.playedMs(),
                played.playedTextChars()));
    }

    @Override
    public void onSpeculationConfirmed(int turnId, long tentativeEndUs, long confirmedAtUs) {
        confirmedUs.put(turnId, confirmedAtUs);
        sink.callEvent(events.turnConfirmed(callId, turnId, tentativeEndUs, confirmedAtUs));
    }

    @Override
    public void onSpeculationCancelled(int turnId, long tentativeEndUs, long cancelledUs, int droppedMs) {
        firstChunkReceivedUs.keySet().removeIf(t -> t.turnId() == turnId);
        sink.callEvent(events.speculationCancelled(callId, cancelledUs, turnId));
    }

    @Override
    public void onPlaybackStarted(TurnAttempt turn, long firstRtpEpochMicros) {
        long received = firstChunkReceivedUs.getOrDefault(turn, firstRtpEpochMicros);
        Long confirmed = confirmedUs.remove(turn.turnId());
        sink.callEvent(events.playbackStarted(callId, clockUs.getAsLong(), turn.turnId(), turn.attempt(), received,
                firstRtpEpochMicros, confirmed == null ? 0 : confirmed));
    }

    @Override
    public void onPlaybackFinished(TurnAttempt turn) {
        firstChunkReceivedUs.remove(turn);
    }

    @Override
    public String toString() {
        return "CallSession[" + callId + " " + sip + "]";
    }
}
