package dev.omnicall.bridge.sdp;

/** An {@code a=rtpmap:} attribute (RFC 4566 §6): {@code <payload type> <encoding name>/<clock rate>[/<channels>]}. */
public record RtpMap(int payloadType, String encoding, int clockRate, int channels) {
}
