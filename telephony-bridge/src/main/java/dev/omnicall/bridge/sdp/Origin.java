package dev.omnicall.bridge.sdp;

/** An {@code o=} line (RFC 4566 §5.2): {@code o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>}. */
public record Origin(String username, String sessionId, String sessionVersion, String netType, String addrType,
                     String address) {
}
