package dev.omnicall.bridge.rtp;

/**
 * A packet from the network that does not follow its RFC. It is returned as a value inside
 * {@link ParseResult}, never thrown out of a receive loop; the message says which field was wrong.
 */
public class MalformedPacketException extends Exception {
    public MalformedPacketException(String message) {
        super(message, null, false, false); // no stack trace: these are routine network events
    }
}
