package dev.omnicall.bridge.sdp;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class SdpAnswerBuilderTest {

    private static SessionDescription offer(String sdp) {
        return ((SdpParseResult.Parsed) SdpParser.parse(sdp)).description();
    }

    @Test
    void shouldWriteExactAnswerToMultiCodecOffer_rfc3264_6_1() {
        SessionDescription offer = offer(SdpFixtures.MULTI_CODEC);
        NegotiatedMedia media = ((Negotiation.Agreed) new SdpNegotiator(List.of(AudioCodec.PCMU, AudioCodec.PCMA))
                .negotiate(offer)).media();

        String answer = SdpAnswerBuilder.build(offer, media, "127.0.0.1", 20000, 42, 0, media.answerDirection());

        assertThat(answer).isEqualTo(""
                + "v=0\r\n"
                + "o=omnicall 42 0 IN IP4 127.0.0.1\r\n"
                + "s=omnicall\r\n"
                + "c=IN IP4 127.0.0.1\r\n"
                + "t=0 0\r\n"
                + "m=audio 20000 RTP/AVP 0 101\r\n"
                + "a=rtpmap:0 PCMU/8000\r\n"
                + "a=rtpmap:101 telephone-event/8000\r\n"
                + "a=fmtp:101 0-16\r\n"
                + "a=ptime:20\r\n"
                + "a=sendrecv\r\n");
    }

    @Test
    void shouldRefuseEveryOtherMediaSectionWithPortZeroInOfferOrder_rfc3264_6() {
        String sdp = "v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\ns=-\r\nc=IN IP4 1.1.1.1\r\nt=0 0\r\n"
                + "m=video 5004 RTP/AVP 96\r\nm=audio 5006 RTP/AVP 8\r\n";
        SessionDescription offer = offer(sdp);
        NegotiatedMedia media = ((Negotiation.Agreed) new SdpNegotiator(List.of(AudioCodec.PCMA)).negotiate(offer)).media();

        String answer = SdpAnswerBuilder.build(offer, media, "10.1.1.1", 30000, 7, 3, Direction.RECVONLY);

        assertThat(answer).contains("o=omnicall 7 3 IN IP4 10.1.1.1\r\n");
        assertThat(answer.indexOf("m=video 0 RTP/AVP 96\r\n")).isLessThan(answer.indexOf("m=audio 30000 RTP/AVP 8\r\n"));
        assertThat(answer).endsWith("a=ptime:20\r\na=recvonly\r\n");
        // the answer parses back with our own parser
        assertThat(SdpParser.parse(answer)).isInstanceOf(SdpParseResult.Parsed.class);
    }
}
