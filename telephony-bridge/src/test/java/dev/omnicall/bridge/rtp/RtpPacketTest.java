package dev.omnicall.bridge.rtp;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class RtpPacketTest {

    private static byte[] bytes(int... v) {
        byte[] b = new byte[v.length];
        for (int i = 0; i < v.length; i++) {
            b[i] = (byte) v[i];
        }
        return b;
    }

    private static RtpPacket ok(byte[] datagram) throws MalformedPacketException {
        return RtpPacket.parse(datagram).orThrow();
    }

    private static String error(byte[] datagram) {
        ParseResult<RtpPacket> r = RtpPacket.parse(datagram);
        assertThat(r).isInstanceOf(ParseResult.Failed.class);
        MalformedPacketException e = ((ParseResult.Failed<RtpPacket>) r).error();
        assertThat(e).isInstanceOf(RtpPacketException.class);
        return e.getMessage();
    }

    @Test
    void shouldReadEveryFixedHeaderFieldPerRfc3550Section5_1() throws Exception {
        // Given a PCMU packet
        byte[] datagram = bytes(
                0x80,                   // V=2 P=0 X=0 CC=0
                0x80,                   // M=1 PT=0 (PCMU)
                0xAB, 0xCD,             // sequence number 43981
                0xDE, 0xAD, 0xBE, 0xEF, // timestamp 3735928559
                0x12, 0x34, 0x56, 0x78, // SSRC 305419896
                0xFF, 0x7F, 0x00);      // payload: 3 μ-law bytes
        // When
        RtpPacket p = ok(datagram);
        // Then
        assertThat(p.marker()).isTrue();
        assertThat(p.payloadType()).isEqualTo(0);
        assertThat(p.sequenceNumber()).isEqualTo(0xABCD);
        assertThat(p.timestamp()).isEqualTo(0xDEADBEEFL);
        assertThat(p.ssrc()).isEqualTo(0x12345678L);
        assertThat(p.csrcs()).isEmpty();
        assertThat(p.extensionProfile()).isEqualTo(-1);
        assertThat(p.payload()).containsExactly(0xFF, 0x7F, 0x00);
    }

    @Test
    void shouldReadCsrcListOfCcEntriesPerRfc3550Section5_1() throws Exception {
        byte[] datagram = bytes(
                0x82,                   // V=2 P=0 X=0 CC=2
                0x08,                   // M=0 PT=8 (PCMA)
                0x00, 0x01,             // seq 1
                0x00, 0x00, 0x00, 0xA0, // ts 160
                0x00, 0x00, 0x00, 0x01, // SSRC 1
                0x00, 0x00, 0x00, 0x02, // CSRC[0] = 2
                0xFF, 0xFF, 0xFF, 0xFF, // CSRC[1] = 4294967295
                0xD5);                  // payload: A-law silence
        RtpPacket p = ok(datagram);
        assertThat(p.csrcs()).containsExactly(2L, 0xFFFF_FFFFL);
        assertThat(p.payload()).containsExactly(0xD5);
    }

    @Test
    void shouldSkipHeaderExtensionOfLengthWordsPerRfc3550Section5_3_1() throws Exception {
        byte[] datagram = bytes(
                0x90,                   // V=2 P=0 X=1 CC=0
                0x00,                   // PT=0
                0x00, 0x07,             // seq 7
                0x00, 0x00, 0x01, 0x40, // ts 320
                0xCA, 0xFE, 0xBA, 0xBE, // SSRC
                0xBE, 0xDE,             // extension profile 0xBEDE (RFC 8285 one-byte)
                0x00, 0x02,             // extension length: 2 words
                0x10, 0xAA, 0x00, 0x00, // extension word 1
                0x21, 0xBB, 0xCC, 0x00, // extension word 2
                0x01, 0x02);            // payload
        RtpPacket p = ok(datagram);
        assertThat(p.extensionProfile()).isEqualTo(0xBEDE);
        assertThat(p.payload()).containsExactly(0x01, 0x02);
    }

    @Test
    void shouldStripPaddingCountedByLastOctetPerRfc3550Section5_1() throws Exception {
        byte[] datagram = bytes(
                0xA0,                   // V=2 P=1 X=0 CC=0
                0x00,                   // PT=0
                0x00, 0x01,             // seq
                0x00, 0x00, 0x00, 0x00, // ts
                0x00, 0x00, 0x00, 0x01, // SSRC
                0x11, 0x22,             // payload
                0x00, 0x00, 0x03);      // padding: 3 octets including the count
        assertThat(ok(datagram).payload()).containsExactly(0x11, 0x22);
    }

    @Test
    void shouldRejectPacketShorterThanFixedHeaderPerRfc3550Section5_1() {
        assertThat(error(bytes(0x80, 0x00, 0x00, 0x01, 0x00)))
                .isEqualTo("RTP header needs 12 bytes but packet is 5 bytes");
    }

    @Test
    void shouldRejectVersionOtherThanTwoPerRfc3550Section5_1() {
        byte[] datagram = bytes(
                0x40, 0x00, 0x00, 0x01, // V=1
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01);
        assertThat(error(datagram)).isEqualTo("header says version 1 but RTP is version 2");
    }

    @Test
    void shouldRejectCsrcCountBeyondPacketPerRfc3550Section5_1() {
        byte[] datagram = bytes(
                0x83, 0x00,             // CC=3: header would be 24 bytes
                0x00, 0x01,
                0x00, 0x00, 0x00, 0x00,
                0x00, 0x00, 0x00, 0x01,
                0x00, 0x00);            // only 2 more bytes: 14 in all
        assertThat(error(datagram)).isEqualTo("header says CC=3 but packet is 14 bytes");
    }

    @Test
    void shouldRejectExtensionLengthBeyondPacketPerRfc3550Section5_3_1() {
        byte[] datagram = bytes(
                0x90, 0x00, 0x00, 0x01, // X=1
                0x00, 0x00, 0x00, 0x00,
                0x00, 0x00, 0x00, 0x01,
                0xBE, 0xDE, 0x00, 0x05, // says 5 words (20 bytes)
                0x00, 0x00, 0x00, 0x00); // only 4 follow
        assertThat(error(datagram)).contains("length=5 words").contains("only 4 bytes follow");
    }

    @Test
    void shouldRejectTruncatedExtensionHeaderPerRfc3550Section5_3_1() {
        byte[] datagram = bytes(0x90, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 1, 0xBE);
        assertThat(error(datagram)).contains("X=1").contains("extension header needs 4");
    }

    @Test
    void shouldRejectZeroPaddingCountPerRfc3550Section5_1() {
        byte[] datagram = bytes(0xA0, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 1, 0x55, 0x00);
        assertThat(error(datagram)).contains("padding count octet is 0");
    }

    @Test
    void shouldRejectPaddingLongerThanPayloadPerRfc3550Section5_1() {
        byte[] datagram = bytes(0xA0, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 1, 0x55, 0x09);
        assertThat(error(datagram)).isEqualTo("padding count 9 exceeds the 2 bytes after the 12-byte header");
    }

    @Test
    void shouldRejectPaddingFlagWithNoBytesAfterHeaderPerRfc3550Section5_1() {
        byte[] datagram = bytes(0xA0, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 1);
        assertThat(error(datagram)).contains("P=1").contains("no bytes after");
    }

    @Test
    void shouldWriteWhatItParsesWithVersionTwoAndNoPadding() throws Exception {
        RtpPacket written = RtpPacket.of(true, 8, 65535, 0xFFFF_FFFFL, 42, new byte[] {1, 2, 3});
        byte[] wire = written.toBytes();
        assertThat(wire[0] & 0xFF).isEqualTo(0x80);
        assertThat(wire[1] & 0xFF).isEqualTo(0x88); // M=1 PT=8
        RtpPacket read = ok(wire);
        assertThat(read.marker()).isTrue();
        assertThat(read.payloadType()).isEqualTo(8);
        assertThat(read.sequenceNumber()).isEqualTo(65535);
        assertThat(read.timestamp()).isEqualTo(0xFFFF_FFFFL);
        assertThat(read.ssrc()).isEqualTo(42);
        assertThat(read.payload()).containsExactly(1, 2, 3);
    }

    @Test
    void shouldParseAtOffsetWithoutReadingPastLength() throws Exception {
        byte[] buf = new byte[64];
        byte[] wire = RtpPacket.of(false, 0, 5, 800, 7, new byte[] {9, 9}).toBytes();
        System.arraycopy(wire, 0, buf, 10, wire.length);
        buf[10 + wire.length] = 0x77; // garbage after the datagram
        RtpPacket p = RtpPacket.parse(buf, 10, wire.length).orThrow();
        assertThat(p.payload()).containsExactly(9, 9);
        assertThat(p.sequenceNumber()).isEqualTo(5);
    }
}
