package dev.omnicall.bridge.sdp;

/**
 * What offer and answer agreed on for the one audio stream of a call.
 *
 * @param mediaIndex            index of the accepted m= section in the offer
 * @param codec                 the voice codec
 * @param payloadType           its payload type in this session (the static one for G.711)
 * @param ptimeMs               20 or 30
 * @param telephoneEventPt      payload type of RFC 4733 telephone-event/8000, or -1 when not offered
 * @param remoteAddress         where to send RTP (the offer's connection address)
 * @param remotePort            where to send RTP
 * @param offerDirection        the direction the offerer asked for
 * @param answerDirection       the direction we answer with
 */
public record NegotiatedMedia(int mediaIndex, AudioCodec codec, int payloadType, int ptimeMs, int telephoneEventPt,
                              String remoteAddress, int remotePort, Direction offerDirection,
                              Direction answerDirection) {

    public boolean hasTelephoneEvent() {
        return telephoneEventPt >= 0;
    }

    /** The caller put us on hold (RFC 3264 §8.4 direction, or the RFC 2543 0.0.0.0 address). */
    public boolean onHold() {
        return offerDirection.isHold() || "0.0.0.0".equals(remoteAddress);
    }
}
