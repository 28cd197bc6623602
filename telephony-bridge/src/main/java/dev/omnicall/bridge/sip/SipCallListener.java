package dev.omnicall.bridge.sip;

import dev.omnicall.bridge.sdp.NegotiatedMedia;

/** What the call layer does at each step of a call's signalling. Called on SIP stack threads: return fast. */
public interface SipCallListener {

    /** Why a call ended from the SIP side without the bridge asking for it. */
    enum RemoteEnd { BYE, CANCEL, NO_ACK, ERROR }

    /**
     * A new INVITE passed admission and negotiation. Open the media (local RTP port) and name the call.
     *
     * @return the bridge call ID and the local RTP port to put into the answer
     * @throws CallRefusedException to answer the INVITE with an error instead
     */
    Acceptance onInvite(SipCall call) throws CallRefusedException;

    /** The 200 OK with our answer went out: the call is up. */
    void onAnswered(SipCall call);

    /** A re-INVITE changed the media (hold, resume, new remote address). */
    void onMediaChanged(SipCall call, NegotiatedMedia media);

    /** The caller hung up, cancelled, never acknowledged our answer, or the dialog failed. */
    void onRemoteEnd(SipCall call, RemoteEnd why, String detail);

    record Acceptance(String callId, int localRtpPort) {
    }
}
