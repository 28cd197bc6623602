package dev.omnicall.bridge.sdp;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

class SdpParserTest {

    private static SessionDescription parsed(String sdp) {
        SdpParseResult r = SdpParser.parse(SdpFixtures.bytes(sdp));
        assertThat(r).isInstanceOf(SdpParseResult.Parsed.class);
        return ((SdpParseResult.Parsed) r).description();
    }

    private static SdpParseResult.Invalid invalid(String sdp) {
        SdpParseResult r = SdpParser.parse(sdp);
        assertThat(r).isInstanceOf(SdpParseResult.Invalid.class);
        return (SdpParseResult.Invalid) r;
    }

    @Test
    void shouldReadEveryFieldOfSippOffer() {
        // Given sipp's PCMA offer, When parsed
        SessionDescription sdp = parsed(SdpFixtures.SIPP_PCMA);

        // Then session and media fields are exactly those on the wire
        assertThat(sdp.origin()).isEqualTo(new Origin("user1", "53655765", "2353687637", "IN", "IP4", "127.0.0.1"));
        assertThat(sdp.sessionName()).isEqualTo("-");
        assertThat(sdp.connection()).isEqualTo(new Connection("IN", "IP4", "127.0.0.1"));
        assertThat(sdp.media()).hasSize(1);
        MediaDescription m = sdp.media().get(0);
        assertThat(m.media()).isEqualTo("audio");
        assertThat(m.port()).isEqualTo(6000);
        assertThat(m.proto()).isEqualTo("RTP/AVP");
        assertThat(m.formats()).containsExactly("8", "101");
        assertThat(m.rtpMaps()).isEqualTo(Map.of(8, new RtpMap(8, "PCMA", 8000, 1),
                101, new RtpMap(101, "telephone-event", 8000, 1)));
        assertThat(m.fmtps()).isEqualTo(Map.of(101, "0-11,16"));
        assertThat(m.ptimeMs()).isNull();
        assertThat(sdp.directionOf(m)).isEqualTo(Direction.SENDRECV);
    }

    @Test
    void shouldReadChannelsPtimeAndDirectionOfMultiCodecOffer() {
        SessionDescription sdp = parsed(SdpFixtures.MULTI_CODEC);

        MediaDescription m = sdp.media().get(0);
        assertThat(m.formats()).containsExactly("111", "9", "0", "8", "101");
        assertThat(m.rtpMaps().get(111)).isEqualTo(new RtpMap(111, "opus", 48000, 2));
        assertThat(m.ptimeMs()).isEqualTo(20);
        assertThat(m.direction()).isEqualTo(Direction.SENDRECV);
    }

    @Test
    void shouldReadCapturedBaresipOfferAndIgnoreUnknownAttributes_rfc4566_5_13() {
        SessionDescription sdp = parsed(SdpFixtures.BARESIP_CAPTURED);

        MediaDescription m = sdp.media().get(0);
        assertThat(sdp.origin().sessionId()).isEqualTo("3733349937");
        assertThat(m.port()).isEqualTo(30006);
        assertThat(m.formats()).containsExactly("0", "101");
        assertThat(m.fmtps()).isEqualTo(Map.of(101, "0-15"));
        assertThat(m.ptimeMs()).isEqualTo(20);
        assertThat(m.direction()).isEqualTo(Direction.SENDRECV);
    }

    @Test
    void shouldPreferMediaLevelConnectionAndDirectionOverSessionLevel_rfc4566_5_7() {
        String sdp = "v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\ns=-\r\nc=IN IP4 1.1.1.1\r\nt=0 0\r\na=recvonly\r\n"
                + "m=audio 4000 RTP/AVP 0\r\nc=IN IP4 2.2.2.2\r\na=inactive\r\n"
                + "m=audio 4002 RTP/AVP 0\r\n";

        SessionDescription d = parsed(sdp);

        assertThat(d.connectionOf(d.media().get(0)).address()).isEqualTo("2.2.2.2");
        assertThat(d.directionOf(d.media().get(0))).isEqualTo(Direction.INACTIVE);
        assertThat(d.connectionOf(d.media().get(1)).address()).isEqualTo("1.1.1.1");
        assertThat(d.directionOf(d.media().get(1))).isEqualTo(Direction.RECVONLY);
    }

    @Test
    void shouldAcceptBareLineFeedsAndDecimalPtime_rfc4566_5() {
        String sdp = "v=0\no=- 1 1 IN IP4 1.1.1.1\ns=-\nc=IN IP4 1.1.1.1/127\nt=0 0\nm=audio 4000/2 RTP/AVP 0\na=ptime:30.0\n";

        SessionDescription d = parsed(sdp);

        assertThat(d.connection().address()).isEqualTo("1.1.1.1");
        assertThat(d.media().get(0).port()).isEqualTo(4000);
        assertThat(d.media().get(0).ptimeMs()).isEqualTo(30);
    }

    @Test
    void shouldRefuseBodyThatDoesNotStartWithVersion_rfc4566_5() {
        SdpParseResult.Invalid bad = invalid("o=- 1 1 IN IP4 1.1.1.1\r\nv=0\r\n");
        assertThat(bad.lineNumber()).isEqualTo(1);
        assertThat(bad.message()).contains("first line must be v=");
    }

    @Test
    void shouldNameTheLineOfEachBrokenRule() {
        String head = "v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\ns=-\r\n";
        List<Object[]> cases = List.of(
                new Object[]{"v=1\r\n", 1, "unsupported SDP version"},
                new Object[]{head + "c=IN IP4\r\n", 4, "c= needs 3 fields"},
                new Object[]{head + "c=ATM NSAP 1\r\n", 4, "is not IN"},
                new Object[]{head + "m=audio 70000 RTP/AVP 0\r\n", 4, "port '70000'"},
                new Object[]{head + "m=audio 4000 RTP/AVP 0 x\r\n", 4, "format 'x'"},
                new Object[]{head + "m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU\r\n", 5, "needs <encoding>/<clock rate>"},
                new Object[]{head + "m=audio 4000 RTP/AVP 0\r\na=rtpmap:300 PCMU/8000\r\n", 5, "not in 0..127"},
                new Object[]{head + "m=audio 4000 RTP/AVP 0\r\na=ptime:-20\r\n", 5, "a=ptime"},
                new Object[]{head + "m=audio 4000 RTP/AVP 0\r\na=sendonly:1\r\n", 5, "takes no value"},
                new Object[]{head + "X=1\r\n", 4, "expected <type>=<value>"},
                new Object[]{"v=0\r\ns=-\r\n", 0, "no o= line"},
                new Object[]{"v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\n", 0, "no s= line"});
        for (Object[] c : cases) {
            SdpParseResult.Invalid bad = invalid((String) c[0]);
            assertThat(bad.lineNumber()).as((String) c[0]).isEqualTo(c[1]);
            assertThat(bad.message()).as((String) c[0]).contains((String) c[2]);
        }
    }

    @Test
    void shouldRefuseControlCharacterInNonRtpFormat_regressionFoundByJazzer() {
        // Found by SdpParserFuzzTest: proto "RTP\u00ff\u00ff/AVP" with format "\u001d" parsed, and the answer
        // echoing that section (port 0) no longer parsed. RFC 4566 §9: fmt and proto are visible-ASCII tokens.
        String sdp = "v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\ns=-\r\nm=audio 4000 RTP\u00ff\u00ff/AVP \u001d 101\r\n";

        SdpParseResult.Invalid bad = invalid(sdp);

        assertThat(bad.lineNumber()).isEqualTo(4);
        assertThat(bad.message()).contains("not a token");
    }

    @Test
    void shouldRefuseOversizedBodiesBeforeParsing() {
        byte[] huge = new byte[SdpParser.MAX_BODY_BYTES + 1];
        SdpParseResult r = SdpParser.parse(huge);
        assertThat(r).isInstanceOf(SdpParseResult.Invalid.class);
        assertThat(((SdpParseResult.Invalid) r).message()).contains("limit");
    }

    @Test
    void shouldRefuseEmptyAndNullBodies() {
        assertThat(SdpParser.parse((byte[]) null)).isInstanceOf(SdpParseResult.Invalid.class);
        assertThat(SdpParser.parse("")).isInstanceOf(SdpParseResult.Invalid.class);
    }
}
