package dev.omnicall.bridge.rtp;

/** An RTP packet that breaks RFC 3550 §5.1, e.g. {@code header says CC=3 but packet is 14 bytes}. */
public final class RtpPacketException extends MalformedPacketException {
    public RtpPacketException(String message) {
        super(message);
    }
}
