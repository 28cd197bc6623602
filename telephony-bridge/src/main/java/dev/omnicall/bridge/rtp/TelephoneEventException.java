package dev.omnicall.bridge.rtp;

/** A telephone-event payload that breaks RFC 4733 §2.3, e.g. {@code payload is 3 bytes, an event needs 4}. */
public final class TelephoneEventException extends MalformedPacketException {
    public TelephoneEventException(String message) {
        super(message);
    }
}
