package dev.omnicall.bridge.sip;

import dev.omnicall.bridge.sdp.NegotiatedMedia;
import dev.omnicall.bridge.sdp.SessionDescription;

import javax.sip.Dialog;
import javax.sip.ServerTransaction;
import javax.sip.message.Request;
import java.net.InetAddress;
import java.util.concurrent.ScheduledFuture;

/**
 * The signalling state of one call, owned by {@link SipUserAgent}. The call layer reads it and hangs up
 * through {@link SipUserAgent#hangup(SipCall)}.
 */
public final class SipCall {

    /** RINGING: INVITE accepted, no final response yet; ANSWERED: 200 sent; CONFIRMED: ACK came; ENDED. */
    public enum State { RINGING, ANSWERED, CONFIRMED, ENDED }

    private final String sipCallId;
    private final String from;
    private final String to;
    private final InetAddress source;
    private final String transport;
    private final String localTag;
    private final long sdpSessionId;

    // guarded by this
    private State state = State.RINGING;
    private String callId;
    private int localRtpPort;
    private SessionDescription offer;
    private NegotiatedMedia media;
    private long sdpVersion;
    ServerTransaction inviteTransaction;
    Request invite;
    Dialog dialog;
    ScheduledFuture<?> pendingAnswer;

    SipCall(String sipCallId, String from, String to, InetAddress source, String transport, String localTag,
            long sdpSessionId, SessionDescription offer, NegotiatedMedia media) {
        this.sipCallId = sipCallId;
        this.from = from;
        this.to = to;
        this.source = source;
        this.transport = transport;
        this.localTag = localTag;
        this.sdpSessionId = sdpSessionId;
        this.offer = offer;
        this.media = media;
    }

    /** The SIP Call-ID header of the dialog (chosen by the caller). */
    public String sipCallId() {
        return sipCallId;
    }

    /** The bridge's call ID (the Kafka key), once the call layer has accepted the call. */
    public synchronized String callId() {
        return callId;
    }

    public String from() {
        return from;
    }

    public String to() {
        return to;
    }

    /** Source address of the INVITE packet. */
    public InetAddress source() {
        return source;
    }

    public String transport() {
        return transport;
    }

    public synchronized State state() {
        return state;
    }

    public synchronized NegotiatedMedia media() {
        return media;
    }

    public synchronized int localRtpPort() {
        return localRtpPort;
    }

    synchronized SessionDescription offer() {
        return offer;
    }

    String localTag() {
        return localTag;
    }

    long sdpSessionId() {
        return sdpSessionId;
    }

    synchronized long nextSdpVersion() {
        return sdpVersion++;
    }

    synchronized void accepted(String id, int rtpPort) {
        this.callId = id;
        this.localRtpPort = rtpPort;
    }

    synchronized void renegotiated(SessionDescription newOffer, NegotiatedMedia newMedia) {
        this.offer = newOffer;
        this.media = newMedia;
    }

    /** Moves to {@code next} unless the call has already ended; returns the state it was in. */
    synchronized State transition(State next) {
        State previous = state;
        if (previous != State.ENDED) {
            state = next;
        }
        return previous;
    }

    @Override
    public synchronized String toString() {
        return "SipCall[" + (callId != null ? callId : "-") + " sip=" + sipCallId + " " + state + " from " + from + "]";
    }
}
