package dev.omnicall.bridge.sdp;

import java.util.List;

/**
 * RFC 3264 answerer for one audio stream: picks the first RTP/AVP audio section with a G.711 format we
 * accept, in the offerer's order of preference, plus telephone-event/8000 when offered.
 */
public final class SdpNegotiator {

    private static final String TELEPHONE_EVENT = "telephone-event";
    private static final int DEFAULT_PTIME_MS = 20;

    private final List<AudioCodec> accepted;

    /** @param accepted the codecs this bridge will use; at least one */
    public SdpNegotiator(List<AudioCodec> accepted) {
        if (accepted == null || accepted.isEmpty()) {
            throw new IllegalArgumentException("accepted codecs must not be empty");
        }
        this.accepted = List.copyOf(accepted);
    }

    public Negotiation negotiate(SessionDescription offer) {
        String lastReason = "the offer has no audio m= section";
        List<MediaDescription> media = offer.media();
        for (int i = 0; i < media.size(); i++) {
            MediaDescription m = media.get(i);
            if (!"audio".equals(m.media())) {
                continue;
            }
            if (m.port() == 0) {
                lastReason = "audio m= section " + i + " is disabled (port 0)";
                continue;
            }
            if (!"RTP/AVP".equals(m.proto())) {
                lastReason = "audio m= section " + i + " uses " + m.proto() + ", only RTP/AVP is supported";
                continue;
            }
            Connection c = offer.connectionOf(m);
            if (c == null) {
                lastReason = "audio m= section " + i + " has no c= line at media or session level";
                continue;
            }
            int pt = -1;
            AudioCodec codec = null;
            for (String fmt : m.formats()) {
                int candidate = Integer.parseInt(fmt); // the parser checked RTP formats are 0..127
                AudioCodec found = codecOf(m, candidate);
                if (found != null && accepted.contains(found)) {
                    pt = candidate;
                    codec = found;
                    break;
                }
            }
            if (codec == null) {
                lastReason = "audio m= section " + i + " offers " + m.formats() + ", none of them is one of " + accepted;
                continue;
            }
            int ptime = m.ptimeMs() != null && (m.ptimeMs() == 20 || m.ptimeMs() == 30) ? m.ptimeMs() : DEFAULT_PTIME_MS;
            Direction offerDirection = offer.directionOf(m);
            return new Negotiation.Agreed(new NegotiatedMedia(i, codec, pt, ptime, telephoneEventPt(m),
                    c.address(), m.port(), offerDirection, offerDirection.answerTo()));
        }
        return new Negotiation.NoCommonMedia(lastReason);
    }

    /** The codec a payload type stands for: its rtpmap when present, else the RFC 3551 static assignment. */
    private static AudioCodec codecOf(MediaDescription m, int pt) {
        RtpMap map = m.rtpMaps().get(pt);
        if (map == null) {
            for (AudioCodec c : AudioCodec.values()) {
                if (c.staticPayloadType() == pt) {
                    return c;
                }
            }
            return null;
        }
        if (map.clockRate() != AudioCodec.CLOCK_RATE || map.channels() != 1) {
            return null;
        }
        for (AudioCodec c : AudioCodec.values()) {
            if (c.encodingName().equalsIgnoreCase(map.encoding())) {
                return c;
            }
        }
        return null;
    }

    private static int telephoneEventPt(MediaDescription m) {
        for (String fmt : m.formats()) {
            int pt = Integer.parseInt(fmt);
            RtpMap map = m.rtpMaps().get(pt);
            if (map != null && TELEPHONE_EVENT.equalsIgnoreCase(map.encoding()) && map.clockRate() == AudioCodec.CLOCK_RATE) {
                return pt;
            }
        }
        return -1;
    }
}
