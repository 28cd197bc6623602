package dev.omnicall.bridge.sdp;

import java.util.List;

/**
 * Writes the SDP answer (RFC 3264 §6): one m= line per offered m= line, in the same order; the accepted
 * audio section carries our address, port, codec, telephone-event and ptime; every other section is
 * refused with port 0.
 */
public final class SdpAnswerBuilder {

    private static final String CRLF = "\r\n";

    private SdpAnswerBuilder() {
    }

    /**
     * @param offer          the offer being answered
     * @param media          what was agreed
     * @param localAddress   our IPv4 address for o= and c=
     * @param localRtpPort   our RTP port
     * @param sessionId      o= session id, stable for the call
     * @param sessionVersion o= version, incremented on each new answer within the call (RFC 3264 §8)
     * @param direction      the direction we answer with (normally {@code media.answerDirection()})
     */
    public static String build(SessionDescription offer, NegotiatedMedia media, String localAddress, int localRtpPort,
                               long sessionId, long sessionVersion, Direction direction) {
        StringBuilder sb = new StringBuilder(256);
        sb.append("v=0").append(CRLF);
        sb.append("o=omnicall ").append(sessionId).append(' ').append(sessionVersion).append(" IN IP4 ")
                .append(localAddress).append(CRLF);
        sb.append("s=omnicall").append(CRLF);
        sb.append("c=IN IP4 ").append(localAddress).append(CRLF);
        sb.append("t=0 0").append(CRLF);
        List<MediaDescription> offered = offer.media();
        for (int i = 0; i < offered.size(); i++) {
            MediaDescription m = offered.get(i);
            if (i != media.mediaIndex()) {
                sb.append("m=").append(m.media()).append(" 0 ").append(m.proto()).append(' ')
                        .append(m.formats().get(0)).append(CRLF);
                continue;
            }
            sb.append("m=audio ").append(localRtpPort).append(" RTP/AVP ").append(media.payloadType());
            if (media.hasTelephoneEvent()) {
                sb.append(' ').append(media.telephoneEventPt());
            }
            sb.append(CRLF);
            sb.append("a=rtpmap:").append(media.payloadType()).append(' ').append(media.codec().encodingName())
                    .append('/').append(AudioCodec.CLOCK_RATE).append(CRLF);
            if (media.hasTelephoneEvent()) {
                sb.append("a=rtpmap:").append(media.telephoneEventPt()).append(" telephone-event/")
                        .append(AudioCodec.CLOCK_RATE).append(CRLF);
                sb.append("a=fmtp:").append(media.telephoneEventPt()).append(" 0-16").append(CRLF);
            }
            sb.append("a=ptime:").append(media.ptimeMs()).append(CRLF);
            sb.append('a').append('=').append(direction.attribute()).append(CRLF);
        }
        return sb.toString();
    }
}
