package dev.omnicall.worker;

/**
 * A TurnRequest the worker cannot run. {@link #reason()} is a short stable word used as the metric tag;
 * the message says what is wrong in words and lands in the dead letter.
 */
public final class BadTurnRequestException extends RuntimeException {

    private final String reason;

    public BadTurnRequestException(String reason, String message, Throwable cause) {
        super(message, cause);
        this.reason = reason;
    }

    public BadTurnRequestException(String reason, String message) {
        this(reason, message, null);
    }

    public String reason() {
        return reason;
    }
}
