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
            int hostileLine = headerLineEndingInBackslash(msgBuffer);
            if (hostileLine >= 0) {
                metrics.sipMalformed("hostile_header");
                throw new ParseException("header line " + hostileLine + " ends in a backslash escape; refused before"
                        + " parsing (JAIN-SIP 1.3.0-91's Via parser loops until out of memory on it)", 0);
            }
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

        /**
         * Regression guard for a denial of service found by {@code SipMessageFuzzTest}: a Via header with an
         * unclosed comment ending in a backslash ({@code Via: SIP/2.0/UDP h (c\}) makes JAIN-SIP's lexer
         * append forever (OutOfMemoryError from one datagram). No valid header line ends in a backslash (a
         * quoted-pair needs a following character), so such lines are refused outright. "Ends" as the stack
         * trims a header value, like {@link String#trim()}: every byte up to U+0020 counts as blank, control
         * characters and NUL included (the CI fuzz run found {@code (29a23\E]\} followed by NUL NUL NUL TAB), and a
         * carriage return ends a line as a line feed does (a later run found the backslash, NUL, then a lone CR).
         * Blank lines and control bytes before the start line are skipped, as the stack skips them (a keep-alive
         * CRLF may precede a message): the scan used to take a leading line feed for the end of the headers and
         * let the same Via through (CI fuzz run, session 30).
         *
         * @return the 1-based index of the first offending header line, or -1
         */
        static int headerLineEndingInBackslash(byte[] msg) {
            int start = 0;
            while (start < msg.length && (msg[start] & 0xff) <= ' ') {
                start++; // before the start line: blank lines, keep-alive CRLFs, control bytes
            }
            int line = 1;
            int lastNonBlank = -1; // last byte of the current line above U+0020 (what String.trim keeps)
            int lineStart = start;
            for (int i = start; i < msg.length; i++) {
                byte b = msg[i];
                if (b == '\n') {
                    if (lastNonBlank < 0 && i > lineStart) {
                        // a line of only CR/whitespace: treat like the empty line that ends the headers
                        return -1;
                    }
                    if (i == lineStart || (i == lineStart + 1 && msg[lineStart] == '\r')) {
                        return -1; // empty line: the body starts, it is not header-parsed
                    }
                    if (lastNonBlank >= 0 && msg[lastNonBlank] == '\\') {
                        return line;
                    }
                    line++;
                    lineStart = i + 1;
                    lastNonBlank = -1;
                } else if (b == '\r' && lastNonBlank >= 0 && msg[lastNonBlank] == '\\') {
                    return line; // a CR ends the stack's header line too, lone or not (fuzz: "(29a23\E]\" NUL CR NUL)
                } else if ((b & 0xff) > ' ') {
                    lastNonBlank = i;
                }
            }
            return lastNonBlank >= 0 && msg[lastNonBlank] == '\\' ? line : -1;
        }

        /** RFC 3261 §8.1.1: From, To, Call-ID, CSeq and Via are mandatory; the stack drops messages without. */
        private static boolean hasMissingMandatoryHeader(SIPMessage m) {
            return m.getFrom() == null || m.getTo() == null || m.getCallId() == null || m.getCSeq() == null
                    || m.getViaHeaders() == null;
        }
    }
}
