package dev.omnicall.bridge.sdp;

/** A {@code c=} line (RFC 4566 §5.7): {@code c=<nettype> <addrtype> <connection-address>}. */
public record Connection(String netType, String addrType, String address) {

    /** RFC 2543 hold: a connection address of 0.0.0.0 means "do not send to me". */
    public boolean isNullAddress() {
        return "0.0.0.0".equals(address) || "::".equals(address);
    }
}
