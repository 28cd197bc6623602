package dev.omnicall.bridge.sdp;

import java.util.List;
import java.util.Map;

/**
 * One {@code m=} section (RFC 4566 §5.14) with the attributes we act on.
 *
 * @param media       "audio", "video", ...
 * @param port        transport port; 0 means the stream is rejected or disabled (RFC 3264 §5.1)
 * @param proto       "RTP/AVP", "RTP/SAVP", ...
 * @param formats     the payload types in the offerer's order of preference
 * @param connection  the media-level {@code c=} line, or null when the session-level one applies
 * @param rtpMaps     explicit {@code a=rtpmap} entries by payload type
 * @param fmtps       {@code a=fmtp} parameters by payload type
 * @param ptimeMs     {@code a=ptime}, or null when absent
 * @param direction   the media-level direction attribute, or null when absent
 */
public record MediaDescription(String media, int port, String proto, List<String> formats, Connection connection,
                               Map<Integer, RtpMap> rtpMaps, Map<Integer, String> fmtps, Integer ptimeMs,
                               Direction direction) {

    public MediaDescription {
        formats = List.copyOf(formats);
        rtpMaps = Map.copyOf(rtpMaps);
        fmtps = Map.copyOf(fmtps);
    }
}
