package dev.omnicall.bridge.sip;

import dev.omnicall.bridge.BridgeMetrics;
import dev.omnicall.bridge.sdp.Direction;
import dev.omnicall.bridge.sdp.NegotiatedMedia;
import dev.omnicall.bridge.sdp.Negotiation;
import dev.omnicall.bridge.sdp.SdpAnswerBuilder;
import dev.omnicall.bridge.sdp.SdpNegotiator;
import dev.omnicall.bridge.sdp.SdpParseResult;
import dev.omnicall.bridge.sdp.SdpParser;
import dev.omnicall.bridge.sdp.SessionDescription;
import gov.nist.javax.sip.DialogTimeoutEvent;
import gov.nist.javax.sip.SipListenerExt;
import gov.nist.javax.sip.message.SIPMessage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.sip.ClientTransaction;
import javax.sip.Dialog;
import javax.sip.DialogTerminatedEvent;
import javax.sip.IOExceptionEvent;
import javax.sip.ListeningPoint;
import javax.sip.RequestEvent;
import javax.sip.ResponseEvent;
import javax.sip.ServerTransaction;
import javax.sip.SipException;
import javax.sip.SipFactory;
import javax.sip.SipProvider;
import javax.sip.SipStack;
import javax.sip.TimeoutEvent;
import javax.sip.TransactionTerminatedEvent;
import javax.sip.address.Address;
import javax.sip.address.AddressFactory;
import javax.sip.header.AuthorizationHeader;
import javax.sip.header.CallIdHeader;
import javax.sip.header.ContentTypeHeader;
import javax.sip.header.HeaderFactory;
import javax.sip.header.ToHeader;
import javax.sip.message.MessageFactory;
import javax.sip.message.Request;
import javax.sip.message.Response;
import java.net.InetAddress;
import java.security.SecureRandom;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The bridge's SIP user agent server on JAIN-SIP (UDP, and TCP on the same port). It answers INVITEs
 * (100, 180, 200 with the SDP answer), handles ACK, BYE both ways, CANCEL (487), re-INVITE for hold and
 * resume, and OPTIONS. Before any call state exists an INVITE passes, in this order: the source
 * allowlist (403), the per-source rate limit (503 + Retry-After), digest auth (401/403), the call limit
 * (503), the SDP (415/400/488). Every refusal is a stateless response and a counter; nothing a caller
 * sends can stop the stack.
 */
public final class SipUserAgent implements SipListenerExt, AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(SipUserAgent.class);
    private static final AtomicInteger STACK_COUNTER = new AtomicInteger();
    static final List<String> ALLOWED_METHODS = List.of(Request.INVITE, Request.ACK, Request.BYE, Request.CANCEL,
            Request.OPTIONS);
    private static final String PRODUCT = "OmniCall-Bridge/0.1";
    /** RFC 3261 §20.43 warning codes. */
    private static final int WARN_INCOMPATIBLE_MEDIA = 305;
    private static final int WARN_MISC = 399;

    private final SipConfig config;
    private final SipCallListener listener;
    private final BridgeMetrics metrics;
    private final CidrAllowlist allowlist;
    private final InviteRateLimiter rateLimiter;
    private final DigestAuthenticator authenticator;
    private final SdpNegotiator negotiator;
    private final SecureRandom random = new SecureRandom();
    private final Map<String, SipCall> calls = new ConcurrentHashMap<>();
    private final ScheduledExecutorService timers;

    private String stackName;
    private SipStack stack;
    private SipProvider provider;
    private HeaderFactory headers;
    private AddressFactory addresses;
    private MessageFactory messages;

    private volatile OverloadGate overloadGate = OverloadGate.OPEN;

    /** New INVITEs are refused with 503 + Retry-After while {@code gate} says so. */
    public void setOverloadGate(OverloadGate gate) {
        this.overloadGate = java.util.Objects.requireNonNull(gate, "gate");
    }

    public SipUserAgent(SipConfig config, SipCallListener listener, BridgeMetrics metrics) {
        this.config = config;
        this.listener = listener;
        this.metrics = metrics;
        this.allowlist = CidrAllowlist.parse(config.allowedSources());
        this.rateLimiter = new InviteRateLimiter(config.invitesPerSecondPerSource(), config.inviteBurstPerSource());
        this.authenticator = config.authEnabled() ? new DigestAuthenticator(config.authRealm(), config.authUsers()) : null;
        this.negotiator = new SdpNegotiator(config.codecs());
        this.timers = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "sip-answer-timer");
            t.setDaemon(true);
            return t;
        });
    }

    /**
     * Starts the stack and binds the port(s).
     *
     * @throws SipStartException when the stack cannot start or the port cannot be bound; the
     *                           application should exit, since a bridge without SIP takes no calls
     */
    public synchronized void start() {
        if (stack != null) {
            throw new IllegalStateException("SIP user agent already started");
        }
        stackName = "omnicall-bridge-" + config.port() + "-" + STACK_COUNTER.incrementAndGet();
        Properties p = new Properties();
        p.setProperty("javax.sip.STACK_NAME", stackName);
        p.setProperty("gov.nist.javax.sip.MESSAGE_PARSER_FACTORY", CountingMessageParserFactory.class.getName());
        // Several threads deliver requests; SipUserAgent and SipCall are safe for that.
        p.setProperty("gov.nist.javax.sip.REENTRANT_LISTENER", "true");
        p.setProperty("gov.nist.javax.sip.THREAD_POOL_SIZE", "8");
        // A real INVITE with SDP is ~1-2 KB; refusing big TCP messages bounds memory per connection.
        p.setProperty("gov.nist.javax.sip.MAX_MESSAGE_SIZE", "65536");
        p.setProperty("gov.nist.javax.sip.TRACE_LEVEL", "0");
        p.setProperty("gov.nist.javax.sip.LOG_MESSAGE_CONTENT", "false");
        CountingMessageParserFactory.register(stackName, metrics);
        try {
            SipFactory factory = SipFactory.getInstance();
            factory.setPathName("gov.nist");
            stack = factory.createSipStack(p);
            headers = factory.createHeaderFactory();
            addresses = factory.createAddressFactory();
            messages = factory.createMessageFactory();
            ListeningPoint udp = stack.createListeningPoint(config.bindAddress(), config.port(), ListeningPoint.UDP);
            provider = stack.createSipProvider(udp);
            if (config.tcp()) {
                provider.addListeningPoint(stack.createListeningPoint(config.bindAddress(), config.port(), ListeningPoint.TCP));
            }
            provider.addSipListener(this);
            stack.start();
        } catch (Exception e) {
            close();
            throw new SipStartException("SIP stack could not start on " + config.bindAddress() + ":" + config.port()
                    + (config.tcp() ? " (udp+tcp)" : " (udp)") + ": " + e, e);
        }
        LOG.info("SIP user agent listening on {}:{} {} as {}, max {} calls, sources {}", config.bindAddress(),
                config.port(), config.tcp() ? "udp+tcp" : "udp", config.advertisedAddress(), config.maxCalls(), allowlist);
    }

    public int port() {
        return config.port();
    }

    /** Calls that are ringing or up. */
    public int liveCalls() {
        return calls.size();
    }

    public List<SipCall> calls() {
        return List.copyOf(calls.values());
    }

    /**
     * Ends a call from our side: BYE once answered, 480 while still ringing. Does not call the listener
     * back: whoever hangs up already knows why.
     */
    public void hangup(SipCall call) {
        calls.remove(call.sipCallId(), call);
        SipCall.State previous;
        synchronized (call) {
            previous = call.transition(SipCall.State.ENDED);
            if (call.pendingAnswer != null) {
                call.pendingAnswer.cancel(false);
            }
        }
        try {
            switch (previous) {
                case RINGING -> call.inviteTransaction.sendResponse(response(Response.TEMPORARILY_UNAVAILABLE, call.invite, call.localTag()));
                case ANSWERED, CONFIRMED -> {
                    Dialog dialog = call.dialog;
                    Request bye = dialog.createRequest(Request.BYE);
                    ClientTransaction tx = provider.getNewClientTransaction(bye);
                    dialog.sendRequest(tx);
                }
                case ENDED -> {
                    // already over
                }
            }
        } catch (Exception e) {
            LOG.warn("{}: could not send {} to end the call: {}", call, previous == SipCall.State.RINGING ? "480" : "BYE", e.toString());
        }
    }

    // ---- requests -------------------------------------------------------------------------------------

    @Override
    public void processRequest(RequestEvent event) {
        Request request = event.getRequest();
        try {
            switch (request.getMethod()) {
                case Request.INVITE -> {
                    if (((ToHeader) request.getHeader(ToHeader.NAME)).getTag() == null) {
                        onNewInvite(event);
                    } else {
                        onReInvite(event);
                    }
                }
                case Request.ACK -> onAck(request);
                case Request.BYE -> onBye(event);
                case Request.CANCEL -> onCancel(event);
                case Request.OPTIONS -> onOptions(event);
                default -> {
                    Response r = response(Response.METHOD_NOT_ALLOWED, request, null);
                    addAllow(r);
                    sendStateless(r, "method_not_allowed");
                }
            }
        } catch (Exception e) {
            // A bug or a stack error on one request must not take the user agent down.
            LOG.error("failed to handle {} {}: {}", request.getMethod(), callIdOf(request), e.toString(), e);
            metrics.sipRejected("internal_error");
            if (!Request.ACK.equals(request.getMethod())) {
                try {
                    ServerTransaction st = event.getServerTransaction();
                    Response r = response(Response.SERVER_INTERNAL_ERROR, request, null);
                    if (st != null) {
                        st.sendResponse(r);
                    } else {
                        provider.sendResponse(r);
                    }
                } catch (Exception ignored) {
                    // the transaction may already have a final response
                }
            }
        }
    }

    private void onNewInvite(RequestEvent event) throws Exception {
        Request invite = event.getRequest();
        InetAddress source = sourceOf(invite);
        if (!allowlist.allows(source)) {
            sendStateless(response(Response.FORBIDDEN, invite, null), "forbidden_source");
            return;
        }
        if (!rateLimiter.tryAcquire(source)) {
            // 503 + Retry-After, not 403: a burst from a real trunk is transient, and 503 makes a proxy back off
            Response r = response(Response.SERVICE_UNAVAILABLE, invite, null);
            r.addHeader(headers.createRetryAfterHeader(1));
            sendStateless(r, "rate_limited");
            return;
        }
        String sipCallId = callIdOf(invite);
        if (calls.containsKey(sipCallId)) {
            return; // a retransmission racing the transaction layer: the first copy is being handled
        }
        int retryAfter = overloadGate.refuseForSeconds();
        if (retryAfter > 0) {
            // before auth and SDP: an overloaded bridge spends as little as it can on a call it will not take
            Response r = response(Response.SERVICE_UNAVAILABLE, invite, null);
            r.addHeader(headers.createRetryAfterHeader(retryAfter));
            sendStateless(r, "overload");
            return;
        }
        if (authenticator != null && !authorized(invite)) {
            return;
        }
        if (calls.size() >= config.maxCalls()) {
            Response r = response(Response.SERVICE_UNAVAILABLE, invite, null);
            r.addHeader(headers.createRetryAfterHeader(5));
            sendStateless(r, "max_calls");
            return;
        }
        ContentTypeHeader contentType = (ContentTypeHeader) invite.getHeader(ContentTypeHeader.NAME);
        byte[] body = invite.getRawContent();
        if (body == null || body.length == 0) {
            // A late offer (SDP in the ACK) is not supported: say so instead of guessing.
            sendStateless(withWarning(response(Response.NOT_ACCEPTABLE_HERE, invite, null), WARN_MISC,
                    "INVITE without SDP offer is not supported"), "no_sdp");
            return;
        }
        if (contentType != null && !("application".equalsIgnoreCase(contentType.getContentType())
                && "sdp".equalsIgnoreCase(contentType.getContentSubType()))) {
            Response r = response(Response.UNSUPPORTED_MEDIA_TYPE, invite, null);
            r.addHeader(headers.createAcceptHeader("application", "sdp"));
            sendStateless(r, "unsupported_body");
            return;
        }
        SdpParseResult parsed = SdpParser.parse(body);
        if (parsed instanceof SdpParseResult.Invalid bad) {
            sendStateless(withWarning(response(Response.BAD_REQUEST, invite, null), WARN_MISC,
                    "bad SDP line " + bad.lineNumber() + ": " + bad.message()), "bad_sdp");
            return;
        }
        SessionDescription offer = ((SdpParseResult.Parsed) parsed).description();
        Negotiation negotiation = negotiator.negotiate(offer);
        if (negotiation instanceof Negotiation.NoCommonMedia none) {
            sendStateless(withWarning(response(Response.NOT_ACCEPTABLE_HERE, invite, null), WARN_INCOMPATIBLE_MEDIA,
                    none.reason()), "no_common_codec");
            return;
        }
        NegotiatedMedia media = ((Negotiation.Agreed) negotiation).media();

        ServerTransaction st = event.getServerTransaction() != null ? event.getServerTransaction()
                : provider.getNewServerTransaction(invite);
        SipCall call = new SipCall(sipCallId,
                ((javax.sip.header.FromHeader) invite.getHeader(javax.sip.header.FromHeader.NAME)).getAddress().getURI().toString(),
                ((ToHeader) invite.getHeader(ToHeader.NAME)).getAddress().getURI().toString(), source, transportOf(invite), newTag(),
                Math.abs(random.nextInt()), offer, media);
        call.inviteTransaction = st;
        call.invite = invite;
        call.dialog = st.getDialog();
        if (calls.putIfAbsent(sipCallId, call) != null) {
            return;
        }
        if (calls.size() > config.maxCalls()) {
            calls.remove(sipCallId, call);
            Response r = response(Response.SERVICE_UNAVAILABLE, invite, call.localTag());
            r.addHeader(headers.createRetryAfterHeader(5));
            metrics.sipRejected("max_calls");
            st.sendResponse(r);
            return;
        }
        st.sendResponse(response(Response.TRYING, invite, null));

        SipCallListener.Acceptance acceptance;
        try {
            acceptance = listener.onInvite(call);
        } catch (CallRefusedException e) {
            calls.remove(sipCallId, call);
            call.transition(SipCall.State.ENDED);
            metrics.sipRejected(e.metricReason());
            st.sendResponse(withWarning(response(e.statusCode(), invite, call.localTag()), WARN_MISC, e.getMessage()));
            return;
        }
        call.accepted(acceptance.callId(), acceptance.localRtpPort());
        Response ringing = response(Response.RINGING, invite, call.localTag());
        ringing.addHeader(contact(call));
        st.sendResponse(ringing);
        if (config.ringDelay().isZero()) {
            answer(call);
        } else {
            synchronized (call) {
                call.pendingAnswer = timers.schedule(() -> answer(call), config.ringDelay().toMillis(), TimeUnit.MILLISECONDS);
            }
        }
    }

    private boolean authorized(Request invite) throws Exception {
        AuthorizationHeader h = (AuthorizationHeader) invite.getHeader(AuthorizationHeader.NAME);
        if (h == null) {
            challenge(invite, false, "auth_challenge");
            return false;
        }
        DigestAuthenticator.Credentials credentials = new DigestAuthenticator.Credentials(h.getUsername(),
                h.getRealm(), h.getNonce(), h.getParameter("uri"), h.getResponse(), h.getAlgorithm(),
                h.getParameter("qop"), h.getParameter("nc"), h.getParameter("cnonce"));
        DigestAuthenticator.Verdict verdict = authenticator.verify(Request.INVITE, credentials);
        switch (verdict) {
            case OK -> {
                return true;
            }
            case STALE_NONCE -> challenge(invite, true, "auth_stale");
            case WRONG_REALM, BAD_NONCE -> challenge(invite, false, "auth_failed");
            default -> sendStateless(withWarning(response(Response.FORBIDDEN, invite, null), WARN_MISC,
                    "authentication failed"), "auth_failed");
        }
        LOG.info("INVITE {} from {}: digest auth {}", callIdOf(invite), sourceOf(invite), verdict);
        return false;
    }

    private void challenge(Request invite, boolean stale, String metricReason) throws Exception {
        Response r = response(Response.UNAUTHORIZED, invite, null);
        r.addHeader(headers.createHeader("WWW-Authenticate", authenticator.challenge(stale)));
        sendStateless(r, metricReason);
    }

    /** Sends 200 OK with the SDP answer, once, unless the call was cancelled while ringing. */
    private void answer(SipCall call) {
        try {
            synchronized (call) {
                if (call.state() != SipCall.State.RINGING) {
                    return;
                }
                NegotiatedMedia media = call.media();
                String sdp = SdpAnswerBuilder.build(call.offer(), media, config.advertisedAddress(),
                        call.localRtpPort(), call.sdpSessionId(), call.nextSdpVersion(), media.answerDirection());
                Response ok = response(Response.OK, call.invite, call.localTag());
                ok.addHeader(contact(call));
                addAllow(ok);
                ok.addHeader(headers.createHeader("X-OmniCall-Call-Id", call.callId()));
                ok.setContent(sdp, headers.createContentTypeHeader("application", "sdp"));
                call.inviteTransaction.sendResponse(ok);
                call.dialog = call.inviteTransaction.getDialog();
                call.transition(SipCall.State.ANSWERED);
            }
            listener.onAnswered(call);
        } catch (Exception e) {
            LOG.error("{}: could not answer: {}", call, e.toString(), e);
            if (calls.remove(call.sipCallId(), call)) {
                call.transition(SipCall.State.ENDED);
                listener.onRemoteEnd(call, SipCallListener.RemoteEnd.ERROR, "could not send 200 OK: " + e.getMessage());
            }
        }
    }

    private void onReInvite(RequestEvent event) throws Exception {
        Request reInvite = event.getRequest();
        SipCall call = calls.get(callIdOf(reInvite));
        ServerTransaction st = event.getServerTransaction() != null ? event.getServerTransaction()
                : provider.getNewServerTransaction(reInvite);
        if (call == null) {
            metrics.sipRejected("no_such_call");
            st.sendResponse(response(Response.CALL_OR_TRANSACTION_DOES_NOT_EXIST, reInvite, null));
            return;
        }
        byte[] body = reInvite.getRawContent();
        SessionDescription offer = call.offer();
        NegotiatedMedia media = call.media();
        if (body != null && body.length > 0) {
            SdpParseResult parsed = SdpParser.parse(body);
            if (parsed instanceof SdpParseResult.Invalid bad) {
                metrics.sipRejected("bad_sdp");
                st.sendResponse(withWarning(response(Response.BAD_REQUEST, reInvite, null), WARN_MISC,
                        "bad SDP line " + bad.lineNumber() + ": " + bad.message()));
                return;
            }
            offer = ((SdpParseResult.Parsed) parsed).description();
            Negotiation negotiation = negotiator.negotiate(offer);
            if (negotiation instanceof Negotiation.NoCommonMedia none) {
                // RFC 3264 §8: a refused re-offer leaves the session as it was
                metrics.sipRejected("no_common_codec");
                st.sendResponse(withWarning(response(Response.NOT_ACCEPTABLE_HERE, reInvite, null),
                        WARN_INCOMPATIBLE_MEDIA, none.reason()));
                return;
            }
            media = ((Negotiation.Agreed) negotiation).media();
            call.renegotiated(offer, media);
        }
        Direction ours = media.onHold() && media.answerDirection() == Direction.SENDRECV ? Direction.RECVONLY
                : media.answerDirection();
        String sdp = SdpAnswerBuilder.build(offer, media, config.advertisedAddress(), call.localRtpPort(),
                call.sdpSessionId(), call.nextSdpVersion(), ours);
        Response ok = response(Response.OK, reInvite, null);
        ok.addHeader(contact(call));
        ok.setContent(sdp, headers.createContentTypeHeader("application", "sdp"));
        LOG.info("{}: re-INVITE, caller direction {}, remote {}:{}", call, media.offerDirection(),
                media.remoteAddress(), media.remotePort());
        // the listener hears of the new media before the caller hears our 200: the stack hands requests to several
        // threads (REENTRANT_LISTENER), and a BYE the caller sends right after the 200 would otherwise reach the
        // listener first ("ended" before "media", seen in a clean-clone CI run on a loaded box)
        listener.onMediaChanged(call, media);
        st.sendResponse(ok);
    }

    private void onAck(Request ack) {
        SipCall call = calls.get(callIdOf(ack));
        if (call != null) {
            synchronized (call) {
                if (call.state() == SipCall.State.ANSWERED) {
                    call.transition(SipCall.State.CONFIRMED);
                }
            }
        }
        // ACKs of our error responses and stray ACKs need nothing
    }

    private void onBye(RequestEvent event) throws Exception {
        Request bye = event.getRequest();
        ServerTransaction st = event.getServerTransaction() != null ? event.getServerTransaction()
                : provider.getNewServerTransaction(bye);
        SipCall call = calls.remove(callIdOf(bye));
        if (call == null) {
            metrics.sipRejected("no_such_call");
            st.sendResponse(response(Response.CALL_OR_TRANSACTION_DOES_NOT_EXIST, bye, null));
            return;
        }
        // the call layer tears the call down before the caller hears the 200: it sees a finished call
        endFromRemote(call, SipCallListener.RemoteEnd.BYE, "caller sent BYE");
        st.sendResponse(response(Response.OK, bye, null));
    }

    private void onCancel(RequestEvent event) throws Exception {
        Request cancel = event.getRequest();
        ServerTransaction st = event.getServerTransaction();
        if (st == null) {
            // no INVITE transaction matches (RFC 3261 §9.2): stateless 481
            sendStateless(response(Response.CALL_OR_TRANSACTION_DOES_NOT_EXIST, cancel, null), "no_such_call");
            return;
        }
        st.sendResponse(response(Response.OK, cancel, null));
        SipCall call = calls.get(callIdOf(cancel));
        if (call == null) {
            return;
        }
        boolean wasRinging;
        synchronized (call) {
            wasRinging = call.state() == SipCall.State.RINGING;
            if (wasRinging) {
                call.transition(SipCall.State.ENDED);
                if (call.pendingAnswer != null) {
                    call.pendingAnswer.cancel(false);
                }
            }
        }
        if (!wasRinging) {
            return; // RFC 3261 §9.2: CANCEL after the final response has no effect
        }
        calls.remove(call.sipCallId(), call);
        listener.onRemoteEnd(call, SipCallListener.RemoteEnd.CANCEL, "caller cancelled while ringing");
        call.inviteTransaction.sendResponse(response(Response.REQUEST_TERMINATED, call.invite, call.localTag()));
    }

    private void onOptions(RequestEvent event) throws Exception {
        Request options = event.getRequest();
        Response r = response(Response.OK, options, null);
        addAllow(r);
        r.addHeader(headers.createAcceptHeader("application", "sdp"));
        if (event.getServerTransaction() != null) {
            event.getServerTransaction().sendResponse(r);
        } else {
            provider.sendResponse(r);
        }
    }

    private void endFromRemote(SipCall call, SipCallListener.RemoteEnd why, String detail) {
        synchronized (call) {
            if (call.transition(SipCall.State.ENDED) == SipCall.State.ENDED) {
                return;
            }
            if (call.pendingAnswer != null) {
                call.pendingAnswer.cancel(false);
            }
        }
        listener.onRemoteEnd(call, why, detail);
    }

    // ---- stack events ---------------------------------------------------------------------------------

    @Override
    public void processResponse(ResponseEvent event) {
        Response r = event.getResponse();
        if (r.getStatusCode() >= 300) {
            LOG.info("{} answered our {} with {}", callIdOf(r), r.getHeader("CSeq"), r.getStatusCode());
        }
    }

    @Override
    public void processTimeout(TimeoutEvent event) {
        if (event.isServerTransaction()) {
            Request request = event.getServerTransaction().getRequest();
            SipCall call = calls.get(callIdOf(request));
            if (call != null && Request.INVITE.equals(request.getMethod()) && call.state() == SipCall.State.ANSWERED) {
                calls.remove(call.sipCallId(), call);
                endFromRemote(call, SipCallListener.RemoteEnd.NO_ACK, "no ACK for our 200 OK");
            }
        }
    }

    @Override
    public void processDialogTimeout(DialogTimeoutEvent event) {
        dialogGone(event.getDialog(), "dialog timed out: " + event.getReason());
    }

    @Override
    public void processDialogTerminated(DialogTerminatedEvent event) {
        dialogGone(event.getDialog(), "dialog terminated");
    }

    private void dialogGone(Dialog dialog, String detail) {
        if (dialog == null || dialog.getCallId() == null) {
            return;
        }
        SipCall call = calls.get(dialog.getCallId().getCallId());
        if (call != null && call.dialog == dialog) {
            calls.remove(call.sipCallId(), call);
            endFromRemote(call, call.state() == SipCall.State.ANSWERED ? SipCallListener.RemoteEnd.NO_ACK
                    : SipCallListener.RemoteEnd.ERROR, detail);
        }
    }

    @Override
    public void processIOException(IOExceptionEvent event) {
        LOG.warn("SIP transport error towards {}:{} ({})", event.getHost(), event.getPort(), event.getTransport());
    }

    @Override
    public void processTransactionTerminated(TransactionTerminatedEvent event) {
        // transactions end on their own; the call state follows dialogs and requests
    }

    // ---- helpers --------------------------------------------------------------------------------------

    private Response response(int status, Request request, String toTag) throws Exception {
        Response r = messages.createResponse(status, request);
        ToHeader to = (ToHeader) r.getHeader(ToHeader.NAME);
        if (to.getTag() == null && status > 100) {
            to.setTag(toTag != null ? toTag : newTag());
        }
        r.addHeader(headers.createServerHeader(List.of(PRODUCT)));
        return r;
    }

    private Response withWarning(Response r, int code, String text) throws Exception {
        // the warning text is a quoted string: keep it printable and free of quotes
        String safe = text.replaceAll("[^\\x20-\\x7e]", "?").replace('"', '\'').replace('\\', '/');
        r.addHeader(headers.createWarningHeader(config.advertisedAddress(), code, safe));
        return r;
    }

    private void addAllow(Response r) throws Exception {
        for (String m : ALLOWED_METHODS) {
            r.addHeader(headers.createAllowHeader(m));
        }
    }

    private javax.sip.header.ContactHeader contact(SipCall call) throws Exception {
        String uri = "sip:omnicall@" + config.advertisedAddress() + ":" + config.port()
                + (ListeningPoint.TCP.equalsIgnoreCase(call.transport()) ? ";transport=tcp" : "");
        Address address = addresses.createAddress(uri);
        return headers.createContactHeader(address);
    }

    private void sendStateless(Response r, String metricReason) throws SipException {
        metrics.sipRejected(metricReason); // counted first: a test (or a dashboard) that saw the reply sees the count
        provider.sendResponse(r);
        LOG.info("refused {} {} with {} ({})", r.getHeader("CSeq"), callIdOf(r), r.getStatusCode(), metricReason);
    }

    private String newTag() {
        return Long.toHexString(random.nextLong() & Long.MAX_VALUE);
    }

    private static String callIdOf(javax.sip.message.Message m) {
        CallIdHeader h = (CallIdHeader) m.getHeader(CallIdHeader.NAME);
        return h == null ? "?" : h.getCallId();
    }

    private static InetAddress sourceOf(Request r) {
        SIPMessage m = (SIPMessage) r;
        return m.getPeerPacketSourceAddress() != null ? m.getPeerPacketSourceAddress() : m.getRemoteAddress();
    }

    private static String transportOf(Request r) {
        javax.sip.header.ViaHeader via = (javax.sip.header.ViaHeader) r.getHeader(javax.sip.header.ViaHeader.NAME);
        return via == null ? ListeningPoint.UDP : via.getTransport();
    }

    /** Stops the stack; live calls are not BYE'd here (the call layer does that first, see BridgeServer). */
    @Override
    public synchronized void close() {
        timers.shutdownNow();
        if (stack != null) {
            try {
                if (provider != null) {
                    provider.removeSipListener(this);
                    stack.deleteSipProvider(provider);
                }
                List<ListeningPoint> points = new java.util.ArrayList<>();
                stack.getListeningPoints().forEachRemaining(lp -> points.add((ListeningPoint) lp));
                for (ListeningPoint lp : points) {
                    stack.deleteListeningPoint(lp);
                }
            } catch (Exception e) {
                LOG.warn("while closing the SIP stack: {}", e.toString());
            }
            stack.stop();
            stack = null;
        }
        if (stackName != null) {
            CountingMessageParserFactory.unregister(stackName);
        }
    }
}
