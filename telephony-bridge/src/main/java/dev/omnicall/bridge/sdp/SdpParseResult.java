package dev.omnicall.bridge.sdp;

/** The outcome of parsing an SDP body: never an exception, since the body comes from the network. */
public sealed interface SdpParseResult {

    record Parsed(SessionDescription description) implements SdpParseResult {
    }

    /**
     * @param lineNumber 1-based line that broke the rule, or 0 for whole-body problems
     * @param message    what is wrong, in words, for logs and the SIP reason phrase
     */
    record Invalid(int lineNumber, String message) implements SdpParseResult {
    }
}
