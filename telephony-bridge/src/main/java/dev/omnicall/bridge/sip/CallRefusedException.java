package dev.omnicall.bridge.sip;

/** Thrown by a {@link SipCallListener} that cannot take a call; the INVITE is answered with {@code statusCode}. */
public final class CallRefusedException extends Exception {

    private final int statusCode;
    private final String metricReason;

    public CallRefusedException(int statusCode, String metricReason, String message, Throwable cause) {
        super(message, cause);
        this.statusCode = statusCode;
        this.metricReason = metricReason;
    }

    public int statusCode() {
        return statusCode;
    }

    public String metricReason() {
        return metricReason;
    }
}
