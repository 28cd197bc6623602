package dev.omnicall.bridge.sip;

/** The SIP stack could not start (port in use, bad address). The application should exit on it. */
public final class SipStartException extends RuntimeException {

    public SipStartException(String message, Throwable cause) {
        super(message, cause);
    }
}
