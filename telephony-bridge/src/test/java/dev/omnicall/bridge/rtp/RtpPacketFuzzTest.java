package dev.omnicall.bridge.rtp;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.io.InputStream;
import org.junit.jupiter.api.Test;

/**
 * Fuzzes the RTP parser. Seeds (src/test/resources/.../RtpPacketFuzzTestInputs/parse) are datagrams
 * captured while sipp replayed its bundled PCMA and RFC 2833 PCAPs (see CAPTURE.md there). Under plain
 * {@code mvn test} the seeds are replayed; {@code JAZZER_FUZZ=1} fuzzes.
 */
class RtpPacketFuzzTest {

    @FuzzTest(maxDuration = "30s")
    void parse(byte[] datagram) throws Exception {
        ParseResult<RtpPacket> result = RtpPacket.parse(datagram); // must never throw
        if (result instanceof ParseResult.Ok<RtpPacket> ok) {
            RtpPacket p = ok.value();
            assertThat(p.payload().length).isLessThanOrEqualTo(datagram.length - RtpPacket.FIXED_HEADER_BYTES);
            // what we write, we read back the same (extension and padding are not written)
            RtpPacket again = RtpPacket.parse(p.toBytes()).orThrow();
            assertThat(again.sequenceNumber()).isEqualTo(p.sequenceNumber());
            assertThat(again.timestamp()).isEqualTo(p.timestamp());
            assertThat(again.ssrc()).isEqualTo(p.ssrc());
            assertThat(again.marker()).isEqualTo(p.marker());
            assertThat(again.payloadType()).isEqualTo(p.payloadType());
            assertThat(again.csrcs()).containsExactly(p.csrcs());
            assertThat(again.payload()).containsExactly(p.payload());
        } else {
            assertThat(((ParseResult.Failed<RtpPacket>) result).error().getMessage()).isNotBlank();
        }
    }

    @Test
    void shouldParseTheCapturedSippPcmaPacketPerRfc3550() throws Exception {
        RtpPacket p = RtpPacket.parse(seed("sipp-g711a-first-marker.bin")).orThrow();
        assertThat(p.payloadType()).isEqualTo(8);
        assertThat(p.marker()).isTrue();
        assertThat(p.sequenceNumber()).isEqualTo(0xE6FD);
        assertThat(p.ssrc()).isEqualTo(0xDEE0EE8FL);
        assertThat(p.payload()).hasSize(240); // 30 ms of A-law
    }

    @Test
    void shouldParseTheCapturedSippTelephoneEventPacketPerRfc4733() throws Exception {
        RtpPacket p = RtpPacket.parse(seed("sipp-rfc2833-digit1-end.bin")).orThrow();
        assertThat(p.payloadType()).isEqualTo(101);
        TelephoneEvent e = TelephoneEvent.parse(p.payload()).orThrow();
        assertThat(e.digit()).isEqualTo('1');
        assertThat(e.end()).isTrue();
        assertThat(e.duration()).isEqualTo(2240);
    }

    private static byte[] seed(String name) throws Exception {
        try (InputStream in = RtpPacketFuzzTest.class.getResourceAsStream("RtpPacketFuzzTestInputs/parse/" + name)) {
            return in.readAllBytes();
        }
    }
}
