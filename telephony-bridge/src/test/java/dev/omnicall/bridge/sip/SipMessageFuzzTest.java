package dev.omnicall.bridge.sip;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.omnicall.bridge.BridgeMetrics;
import dev.omnicall.bridge.sdp.SdpParser;
import gov.nist.javax.sip.message.SIPMessage;
import gov.nist.javax.sip.message.SIPRequest;

import java.text.ParseException;

/**
 * Jazzer target for what a datagram goes through before our listener sees it: the counting wrapper
 * around JAIN-SIP's {@code StringMsgParser} (the parser the stack uses for UDP and TCP), then the
 * header reads and the SDP parse the user agent does on an INVITE. The only exception allowed out is
 * {@link ParseException}, which the stack turns into a dropped message. Seeds in
 * {@code SipMessageFuzzTestInputs/} are real messages of baresip and sipp captured with tshark.
 */
class SipMessageFuzzTest {

    private final CountingMessageParserFactory.CountingMessageParser parser =
            new CountingMessageParserFactory.CountingMessageParser(BridgeMetrics.inMemory());

    @FuzzTest(maxDuration = "60s")
    void parseNeverEscapesWithUncheckedError(byte[] datagram) {
        SIPMessage message;
        try {
            // the stack's UDP channel passes itself as listener and tolerates bad headers; so do we
            message = parser.parseSIPMessage(datagram, true, false, (e, m, c, h, t) -> { });
        } catch (ParseException e) {
            return;
        }
        if (message == null) {
            return;
        }
        message.getCallId();
        message.getFrom();
        message.getTo();
        message.getCSeq();
        if (message instanceof SIPRequest request) {
            request.getMethod();
            if (request.getTo() != null) {
                request.getTo().getTag();
            }
            SdpParser.parse(request.getRawContent());
        }
        message.encode();
    }
}
