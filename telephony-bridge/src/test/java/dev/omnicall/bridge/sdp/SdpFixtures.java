package dev.omnicall.bridge.sdp;

import java.nio.charset.StandardCharsets;

/** SDP offers as real callers send them, byte for byte (CRLF line ends). */
final class SdpFixtures {

    private SdpFixtures() {
    }

    /** sipp 3.6.1 uac_pcap offer (PCMA + telephone-event), as sent on 127.0.0.1. */
    static final String SIPP_PCMA = ""
            + "v=0\r\n"
            + "o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n"
            + "s=-\r\n"
            + "c=IN IP4 127.0.0.1\r\n"
            + "t=0 0\r\n"
            + "m=audio 6000 RTP/AVP 8 101\r\n"
            + "a=rtpmap:8 PCMA/8000\r\n"
            + "a=rtpmap:101 telephone-event/8000\r\n"
            + "a=fmtp:101 0-11,16\r\n";

    /**
     * The offer baresip 1.0.0 sent in this project's tests (captured with tshark on loopback; its account
     * was limited to PCMU).
     */
    static final String BARESIP_CAPTURED = ""
            + "v=0\r\n"
            + "o=- 3733349937 2001876062 IN IP4 127.0.0.1\r\n"
            + "s=-\r\n"
            + "c=IN IP4 127.0.0.1\r\n"
            + "t=0 0\r\n"
            + "a=tool:baresip 1.0.0\r\n"
            + "m=audio 30006 RTP/AVP 0 101\r\n"
            + "a=rtpmap:0 PCMU/8000\r\n"
            + "a=rtpmap:101 telephone-event/8000\r\n"
            + "a=fmtp:101 0-15\r\n"
            + "a=sendrecv\r\n"
            + "a=label:1\r\n"
            + "a=rtcp-rsize\r\n"
            + "a=ssrc:3137188237 cname:sip:caller@127.0.0.1\r\n"
            + "a=minptime:20\r\n"
            + "a=ptime:20\r\n";

    /**
     * A constructed offer in the style of a softphone with all codecs enabled: opus and G.722 before
     * G.711, dynamic telephone-event, media-level sendrecv and ptime.
     */
    static final String MULTI_CODEC = ""
            + "v=0\r\n"
            + "o=- 1834862577 2059357712 IN IP4 127.0.0.1\r\n"
            + "s=-\r\n"
            + "c=IN IP4 127.0.0.1\r\n"
            + "t=0 0\r\n"
            + "m=audio 10046 RTP/AVP 111 9 0 8 101\r\n"
            + "b=AS:128\r\n"
            + "a=rtpmap:111 opus/48000/2\r\n"
            + "a=fmtp:111 stereo=1;sprop-stereo=1\r\n"
            + "a=rtpmap:9 G722/8000\r\n"
            + "a=rtpmap:0 PCMU/8000\r\n"
            + "a=rtpmap:8 PCMA/8000\r\n"
            + "a=rtpmap:101 telephone-event/8000\r\n"
            + "a=fmtp:101 0-15\r\n"
            + "a=rtcp-rsize\r\n"
            + "a=sendrecv\r\n"
            + "a=label:1\r\n"
            + "a=ssrc:1170066853 cname:sip:alice@127.0.0.1\r\n"
            + "a=ptime:20\r\n";

    /** An offer putting the call on hold (RFC 3264 §8.4): sendonly, 30 ms packets. */
    static final String HOLD_PCMU_30MS = ""
            + "v=0\r\n"
            + "o=hold 1 2 IN IP4 10.0.0.7\r\n"
            + "s=hold\r\n"
            + "t=0 0\r\n"
            + "m=audio 40000 RTP/AVP 0\r\n"
            + "c=IN IP4 10.0.0.7\r\n"
            + "a=ptime:30\r\n"
            + "a=sendonly\r\n";

    /** Video first, then an audio section that only offers G.722: nothing we can take. */
    static final String VIDEO_AND_G722 = ""
            + "v=0\r\n"
            + "o=- 7 7 IN IP4 192.0.2.1\r\n"
            + "s=-\r\n"
            + "c=IN IP4 192.0.2.1\r\n"
            + "t=0 0\r\n"
            + "m=video 5004 RTP/AVP 96\r\n"
            + "a=rtpmap:96 VP8/90000\r\n"
            + "m=audio 5006 RTP/AVP 9\r\n"
            + "a=rtpmap:9 G722/8000\r\n";

    static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }
}
