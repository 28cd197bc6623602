package dev.omnicall.bridge.sip;

import dev.omnicall.bridge.BridgeMetrics;
import gov.nist.javax.sip.SipStackImpl;
import gov.nist.javax.sip.message.SIPMessage;
import gov.nist.javax.sip.parser.MessageParser;
import gov.nist.javax.sip.parser.MessageParserFactory;
import gov.nist.javax.sip.parser.ParseExceptionListener;
import gov.nist.javax.sip.parser.StringMsgParser;
import gov.nist.javax.sip.stack.SIPTransactionStack;

import java.text.ParseException;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Plugged into JAIN-SIP ({@code gov.nist.javax.sip.MESSAGE_PARSER_FACTORY}) so that every message the
 * stack's own parser refuses is counted before the stack drops it; the listener never sees those.
 * The stack instantiates this class by name, so the metrics of each stack are found by stack name.
 */
public final class CountingMessageParserFactory implements MessageParserFactory {

    private static final Map<String, BridgeMetrics> METRICS_BY_STACK = new ConcurrentHashMap<>();

    static void register(String stackName, BridgeMetrics metrics) {
        METRICS_BY_STACK.put(stackName, metrics);
    }

    static void unregister(String stackName) {
        METRICS_BY_STACK.remove(stackName);
    }

    @Override
    public MessageParser createMessageParser(SIPTransactionStack stack) {
        String name = stack instanceof SipStackImpl impl ? impl.getStackName() : null;
        BridgeMetrics metrics = name == null ? null : METRICS_BY_STACK.get(name);
        return new CountingMessageParser(metrics == null ? BridgeMetrics.inMemory() : metrics);
    }

    /**
     * The stack's string parser with counting around it. Also used directly by the SIP parser fuzz test:
     * it is the exact path a datagram takes from the socket into a {@link SIPMessage}.
     */
    public static final class CountingMessageParser implements MessageParser {
        private final StringMsgParser delegate = new StringMsgParser();
        private final BridgeMetrics metrics;

        public CountingMessageParser(BridgeMetrics metrics) {
            this.metrics = metrics;
        }

        @Override
        public SIPMessage parseSIPMessage(byte[] msgBuffer, boolean readBody, boolean strict,
                                          ParseExceptionListener handler) throws ParseException {
            ParseExceptionListener counting = (ex, message, headerClass, headerText, messageText) -> {
                metrics.sipMalformed("bad_header");
                if (handler != null) {
                    handler.handleException(ex, message, headerClass, headerText, messageText);
                }
            };
            SIPMessage message;
            try {
                message = delegate.parseSIPMessage(msgBuffer, readBody, strict, counting);
            } catch (ParseException e) {
                metrics.sipMalformed("parse_error");
                throw e;
            } catch (RuntimeException e) {
                // the stack's parser throws unchecked exceptions on some inputs; turn them into the checked
                // ParseException its callers handle, so garbage on the socket cannot escape as a crash
                metrics.sipMalformed("parse_error");
                ParseException pe = new ParseException("unparseable SIP message: " + e, 0);
                pe.initCause(e);
                throw pe;
            }
            if (message != null && hasMissingMandatoryHeader(message)) {
                metrics.sipMalformed("missing_header");
            }
            return message;
        }

        /** RFC 3261 §8.1.1: From, To, Call-ID, CSeq and Via are mandatory; the stack drops messages without. */
        private static boolean hasMissingMandatoryHeader(SIPMessage m) {
            return m.getFrom() == null || m.getTo() == null || m.getCallId() == null || m.getCSeq() == null
                    || m.getViaHeaders() == null;
        }
    }
}
