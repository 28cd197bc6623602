package dev.omnicall.bridge.call;

import dev.omnicall.bridge.BridgeMetrics;
import dev.omnicall.bridge.codec.DownsamplerTo8k;
import dev.omnicall.bridge.codec.G711;
import dev.omnicall.bridge.media.MediaConfig;
import dev.omnicall.bridge.media.MediaSession;
import dev.omnicall.bridge.media.PlayoutBuffer;
import dev.omnicall.bridge.media.RtpPortAllocator;
import dev.omnicall.bridge.sdp.NegotiatedMedia;
import dev.omnicall.bridge.sip.CallRefusedException;
import dev.omnicall.bridge.sip.SipCall;
import dev.omnicall.bridge.sip.SipCallListener;
import dev.omnicall.bridge.sip.SipUserAgent;
import dev.omnicall.events.AudioChunk;
import dev.omnicall.events.EndReason;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * The live calls of one bridge: opens a {@link MediaSession} for each accepted INVITE, publishes the
 * lifecycle events, routes reply chunks to the right call, ends calls whose RTP stopped, and hangs up
 * everything at shutdown.
 */
public final class CallManager implements SipCallListener, AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(CallManager.class);

    private final MediaConfig mediaConfig;
    /** Speculative-turn silence for calls answered from now on; -1: the media config's. */
    private volatile int speculativeSilenceMs = -1;
    private final RtpPortAllocator ports;
    private final Supplier<String> callIds;
    private final CallEventSink sink;
    private final CallEvents events;
    private final BridgeMetrics metrics;
    private final Duration rtpTimeout;
    private final LongSupplier clockUs;
    private final Map<String, CallSession> sessions = new ConcurrentHashMap<>();
    private final ScheduledExecutorService watchdog;
    private volatile SipUserAgent sip;

    /**
     * Switches speculative turns for the calls answered from now on: {@code ms} of trailing silence starts one, 0
     * turns them off (calls in progress keep their setting). Refused like a bad configuration.
     */
    public void speculativeSilenceMs(int ms) {
        mediaConfig.segmenter().withSpeculativeSilenceMs(ms); // validates
        speculativeSilenceMs = ms;
    }

    public CallManager(String bridgeId, MediaConfig mediaConfig, RtpPortAllocator ports, Supplier<String> callIds,
                       CallEventSink sink, BridgeMetrics metrics, Duration rtpTimeout, LongSupplier clockUs) {
        this.mediaConfig = mediaConfig;
        this.ports = ports;
        this.callIds = callIds;
        this.sink = sink;
        this.events = new CallEvents(bridgeId);
        this.metrics = metrics;
        this.rtpTimeout = rtpTimeout;
        this.clockUs = clockUs;
        this.watchdog = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "bridge-" + bridgeId + "-rtp-watchdog");
            t.setDaemon(true);
            return t;
        });
        long periodMs = Math.max(50, Math.min(1000, rtpTimeout.toMillis() / 4));
        watchdog.scheduleAtFixedRate(this::checkRtpActivity, periodMs, periodMs, TimeUnit.MILLISECONDS);
    }

    /** The user agent that carries the calls' signalling; needed to hang up. */
    public void attach(SipUserAgent userAgent) {
        this.sip = userAgent;
    }

    public List<String> callIds() {
        return List.copyOf(sessions.keySet());
    }

    public CallSession session(String callId) {
        return sessions.get(callId);
    }

    // ---- SIP side -----------------------------------------------------------------------------------------

    @Override
    public Acceptance onInvite(SipCall call) throws CallRefusedException {
        NegotiatedMedia m = call.media();
        String callId = callIds.get();
        MediaSession media;
        try {
            MediaConfig perCall = speculativeSilenceMs < 0 ? mediaConfig
                    : mediaConfig.withSegmenter(mediaConfig.segmenter().withSpeculativeSilenceMs(speculativeSilenceMs));
            media = MediaSession.open(perCall.withTelephoneEventPayloadType(m.telephoneEventPt()), ports,
                    G711.forPayloadType(m.codec().staticPayloadType()), m.ptimeMs(),
                    new InetSocketAddress(m.remoteAddress(), m.remotePort()));
        } catch (IOException | RuntimeException e) {
            throw new CallRefusedException(503, "media_unavailable", "no RTP port: " + e.getMessage(), e);
        }
        CallSession session = new CallSession(callId, call, media, sink, events, clockUs);
        sessions.put(callId, session);
        if (m.onHold()) {
            session.hold(true);
        }
        LOG.info("call {} from {} ({} {} ms, RTP {} -> {}:{})", callId, call.from(), m.codec(), m.ptimeMs(),
                media.localPort(), m.remoteAddress(), m.remotePort());
        return new Acceptance(callId, media.localPort());
    }

    @Override
    public void onAnswered(SipCall call) {
        CallSession session = sessions.get(call.callId());
        if (session != null) {
            session.start(System.nanoTime());
            metrics.callStarted();
        }
    }

    @Override
    public void onMediaChanged(SipCall call, NegotiatedMedia m) {
        CallSession session = sessions.get(call.callId());
        if (session == null) {
            return;
        }
        if (!m.onHold()) {
            session.media().updateRemote(new InetSocketAddress(m.remoteAddress(), m.remotePort()),
                    G711.forPayloadType(m.codec().staticPayloadType()), m.ptimeMs());
        }
        session.hold(m.onHold());
    }

    @Override
    public void onRemoteEnd(SipCall call, RemoteEnd why, String detail) {
        EndReason reason = switch (why) {
            case BYE -> EndReason.CALLER_HANGUP;
            case CANCEL -> EndReason.CANCELLED;
            case NO_ACK, ERROR -> EndReason.ERROR;
        };
        end(call.callId(), reason, detail);
    }

    // ---- bridge side -----------------------------------------------------------------------------------------

    /** The bot hangs up: BYE to the caller, CallEnded(BOT_HANGUP). False when no such call is live here. */
    public boolean hangup(String callId) {
        return hangup(callId, EndReason.BOT_HANGUP, "bot hung up");
    }

    private boolean hangup(String callId, EndReason reason, String detail) {
        CallSession session = sessions.get(callId);
        if (session == null) {
            return false;
        }
        SipUserAgent ua = sip;
        if (ua != null) {
            ua.hangup(session.sip());
        }
        return end(callId, reason, detail);
    }

    /**
     * A reply chunk from response-audio. Chunks of calls not held here (ended, or another bridge's) are skipped. A
     * chunk the bridge cannot play (a sample rate other than 8, 16 or 24 kHz; an odd byte count; a rate that changes
     * within an attempt) throws {@link IllegalArgumentException}: the consumer dead-letters it and counts it.
     */
    public void onChunk(AudioChunk chunk) {
        long receivedUs = clockUs.getAsLong();
        if (!DownsamplerTo8k.supports(chunk.getSampleRate())) {
            throw new IllegalArgumentException("AudioChunk of call " + chunk.getCallId() + " has sample rate "
                    + chunk.getSampleRate() + " Hz, the bridge plays 8000, 16000 and 24000 Hz");
        }
        CallSession session = sessions.get(chunk.getCallId());
        if (session == null || session.isEnded()) {
            metrics.kafkaError("chunk_for_unknown_call");
            return;
        }
        PlayoutBuffer.Outcome outcome = session.play(chunk, receivedUs);
        LOG.debug("call {} turn {}/{} chunk {}: {}", chunk.getCallId(), chunk.getTurnId(), chunk.getAttempt(),
                chunk.getSeq(), outcome);
    }

    private boolean end(String callId, EndReason reason, String detail) {
        CallSession session = sessions.remove(callId);
        if (session == null || !session.end(reason, detail)) {
            return false;
        }
        metrics.callEnded(reason.name());
        LOG.info("call {} ended: {} ({})", callId, reason, detail);
        return true;
    }

    private void checkRtpActivity() {
        long now = System.nanoTime();
        for (CallSession s : sessions.values()) {
            try {
                if (!s.isStarted() || s.isOnHold()) {
                    s.lastProgressNanos = now;
                    continue;
                }
                long received = s.media().stats().packetsReceived();
                if (received != s.lastPacketsReceived) {
                    s.lastPacketsReceived = received;
                    s.lastProgressNanos = now;
                } else if (now - s.lastProgressNanos > rtpTimeout.toNanos()) {
                    hangup(s.callId(), EndReason.RTP_TIMEOUT, "no RTP for " + rtpTimeout.toMillis() + " ms");
                }
            } catch (RuntimeException e) {
                LOG.error("RTP watchdog failed on {}: {}", s, e.toString(), e);
            }
        }
    }

    /** Hangs up every live call with CallEnded(BRIDGE_SHUTDOWN). */
    public void shutdown() {
        for (String callId : List.copyOf(sessions.keySet())) {
            hangup(callId, EndReason.BRIDGE_SHUTDOWN, "bridge shutting down");
        }
    }

    @Override
    public void close() {
        watchdog.shutdownNow();
        shutdown();
    }
}
