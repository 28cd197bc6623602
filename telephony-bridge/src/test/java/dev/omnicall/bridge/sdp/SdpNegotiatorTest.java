package dev.omnicall.bridge.sdp;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class SdpNegotiatorTest {

    private final SdpNegotiator negotiator = new SdpNegotiator(List.of(AudioCodec.PCMU, AudioCodec.PCMA));

    private static SessionDescription offer(String sdp) {
        return ((SdpParseResult.Parsed) SdpParser.parse(sdp)).description();
    }

    private NegotiatedMedia agreed(String sdp) {
        Negotiation n = negotiator.negotiate(offer(sdp));
        assertThat(n).isInstanceOf(Negotiation.Agreed.class);
        return ((Negotiation.Agreed) n).media();
    }

    @Test
    void shouldTakeFirstG711FormatInOfferersOrderAndTelephoneEvent_rfc3264_6_1() {
        // Given an offer of opus, G722, PCMU, PCMA, telephone-event/101
        NegotiatedMedia m = agreed(SdpFixtures.MULTI_CODEC);

        // Then PCMU (first G.711 in the offer) with DTMF on 101, to the offer's address
        assertThat(m.codec()).isEqualTo(AudioCodec.PCMU);
        assertThat(m.payloadType()).isEqualTo(0);
        assertThat(m.telephoneEventPt()).isEqualTo(101);
        assertThat(m.ptimeMs()).isEqualTo(20);
        assertThat(m.remoteAddress()).isEqualTo("127.0.0.1");
        assertThat(m.remotePort()).isEqualTo(10046);
        assertThat(m.answerDirection()).isEqualTo(Direction.SENDRECV);
    }

    @Test
    void shouldTakePcmaWhenOnlyPcmaIsOffered() {
        NegotiatedMedia m = agreed(SdpFixtures.SIPP_PCMA);
        assertThat(m.codec()).isEqualTo(AudioCodec.PCMA);
        assertThat(m.payloadType()).isEqualTo(8);
    }

    @Test
    void shouldHonourThirtyMsPtimeAndAnswerSendonlyWithRecvonly_rfc3264_6_1() {
        NegotiatedMedia m = agreed(SdpFixtures.HOLD_PCMU_30MS);

        assertThat(m.ptimeMs()).isEqualTo(30);
        assertThat(m.offerDirection()).isEqualTo(Direction.SENDONLY);
        assertThat(m.answerDirection()).isEqualTo(Direction.RECVONLY);
        assertThat(m.onHold()).isTrue();
        assertThat(m.hasTelephoneEvent()).isFalse();
    }

    @Test
    void shouldFallBackToTwentyMsForUnsupportedPtime() {
        NegotiatedMedia m = agreed("v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\ns=-\r\nc=IN IP4 1.1.1.1\r\nt=0 0\r\n"
                + "m=audio 4000 RTP/AVP 0\r\na=ptime:10\r\n");
        assertThat(m.ptimeMs()).isEqualTo(20);
    }

    @Test
    void shouldUseStaticPayloadTypeWithoutRtpmap_rfc3551_6() {
        NegotiatedMedia m = agreed("v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\ns=-\r\nc=IN IP4 1.1.1.1\r\nt=0 0\r\n"
                + "m=audio 4000 RTP/AVP 18 8\r\n");
        assertThat(m.codec()).isEqualTo(AudioCodec.PCMA);
    }

    @Test
    void shouldTreatRfc2543NullAddressAsHold() {
        NegotiatedMedia m = agreed("v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n"
                + "m=audio 4000 RTP/AVP 0\r\n");
        assertThat(m.onHold()).isTrue();
    }

    @Test
    void shouldRefuseWhenNoAudioSectionHasG711() {
        Negotiation n = negotiator.negotiate(offer(SdpFixtures.VIDEO_AND_G722));
        assertThat(n).isInstanceOf(Negotiation.NoCommonMedia.class);
        assertThat(((Negotiation.NoCommonMedia) n).reason()).contains("[9]");
    }

    @Test
    void shouldRefuseSrtpAndDisabledStreams() {
        String base = "v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\ns=-\r\nc=IN IP4 1.1.1.1\r\nt=0 0\r\n";
        assertThat(negotiator.negotiate(offer(base + "m=audio 4000 RTP/SAVP 0\r\n")))
                .isInstanceOf(Negotiation.NoCommonMedia.class);
        assertThat(negotiator.negotiate(offer(base + "m=audio 0 RTP/AVP 0\r\n")))
                .isInstanceOf(Negotiation.NoCommonMedia.class);
    }

    @Test
    void shouldRefusePcmuWhenOnlyPcmaIsAccepted() {
        SdpNegotiator pcmaOnly = new SdpNegotiator(List.of(AudioCodec.PCMA));
        assertThat(pcmaOnly.negotiate(offer(SdpFixtures.HOLD_PCMU_30MS))).isInstanceOf(Negotiation.NoCommonMedia.class);
    }
}
