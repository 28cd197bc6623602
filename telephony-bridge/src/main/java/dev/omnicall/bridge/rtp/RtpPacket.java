package dev.omnicall.bridge.rtp;

import java.util.Arrays;

/**
 * One RTP data packet (RFC 3550 §5.1). Parsing strips the header extension and padding, so
 * {@link #payload()} holds only the media bytes. Writing always produces version 2, no padding and no
 * extension, which is what a G.711 sender needs.
 *
 * @param marker            M bit: first packet of a talkspurt for audio (RFC 3551 §4.1)
 * @param payloadType       PT, 0..127
 * @param sequenceNumber    16-bit sequence number, 0..65535
 * @param timestamp         32-bit sampling-clock timestamp, 0..2^32-1
 * @param ssrc              32-bit synchronization source, 0..2^32-1
 * @param csrcs             contributing sources (CC of them), each 0..2^32-1
 * @param extensionProfile  the 16-bit "defined by profile" field of a header extension, -1 if none
 * @param payload           media bytes without padding
 */
public record RtpPacket(
        boolean marker,
        int payloadType,
        int sequenceNumber,
        long timestamp,
        long ssrc,
        long[] csrcs,
        int extensionProfile,
        byte[] payload) {

    public static final int VERSION = 2;
    public static final int FIXED_HEADER_BYTES = 12;
    public static final int CSRC_BYTES = 4;
    public static final int EXTENSION_HEADER_BYTES = 4;
    public static final int MAX_PAYLOAD_TYPE = 0x7F;

    // First octet: V(2) P(1) X(1) CC(4)
    private static final int VERSION_SHIFT = 6;
    private static final int PADDING_MASK = 0x20;
    private static final int EXTENSION_MASK = 0x10;
    private static final int CSRC_COUNT_MASK = 0x0F;
    // Second octet: M(1) PT(7)
    private static final int MARKER_MASK = 0x80;
    private static final int PAYLOAD_TYPE_MASK = 0x7F;

    private static final long[] NO_CSRCS = new long[0];

    public RtpPacket {
        if (payloadType < 0 || payloadType > MAX_PAYLOAD_TYPE) {
            throw new IllegalArgumentException("payload type " + payloadType + " is outside 0..127");
        }
        if (sequenceNumber < 0 || sequenceNumber > 0xFFFF) {
            throw new IllegalArgumentException("sequence number " + sequenceNumber + " is outside 0..65535");
        }
        if (timestamp < 0 || timestamp > 0xFFFF_FFFFL) {
            throw new IllegalArgumentException("timestamp " + timestamp + " is outside 0..2^32-1");
        }
        if (ssrc < 0 || ssrc > 0xFFFF_FFFFL) {
            throw new IllegalArgumentException("SSRC " + ssrc + " is outside 0..2^32-1");
        }
        if (csrcs.length > CSRC_COUNT_MASK) {
            throw new IllegalArgumentException(csrcs.length + " CSRCs, at most 15 fit in CC");
        }
    }

    /** A packet as a G.711 sender writes it: no CSRCs, no extension. */
    public static RtpPacket of(boolean marker, int payloadType, int sequenceNumber, long timestamp, long ssrc,
                               byte[] payload) {
        return new RtpPacket(marker, payloadType, sequenceNumber, timestamp, ssrc, NO_CSRCS, -1, payload);
    }

    /*
     * RFC 3550 §5.1, the fixed header:
     *
     *  0                   1                   2                   3
     *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
     * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
     * |V=2|P|X|  CC   |M|     PT      |       sequence number         |
     * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
     * |                           timestamp                           |
     * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
     * |           synchronization source (SSRC) identifier            |
     * +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
     * |            contributing source (CSRC) identifiers             |
     * |                             ....                              |
     * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
     *
     * RFC 3550 §5.3.1, the header extension (present when X=1), after the CSRCs:
     *
     * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
     * |      defined by profile       |           length              |
     * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
     * |                        header extension                       |
     * |                             ....                              |
     *
     * "length" counts 32-bit words after this 4-byte header. With P=1, the last octet of the packet is
     * the number of padding octets including itself (§5.1).
     */

    /** Parses a whole datagram. */
    public static ParseResult<RtpPacket> parse(byte[] datagram) {
        return parse(datagram, 0, datagram.length);
    }

    /** Parses {@code length} bytes at {@code offset}; the bytes are copied, the buffer can be reused. */
    public static ParseResult<RtpPacket> parse(byte[] buf, int offset, int length) {
        if (length < FIXED_HEADER_BYTES) {
            return fail("RTP header needs 12 bytes but packet is " + length + " bytes");
        }
        int b0 = buf[offset] & 0xFF;
        int version = b0 >>> VERSION_SHIFT;
        if (version != VERSION) {
            return fail("header says version " + version + " but RTP is version 2");
        }
        boolean padding = (b0 & PADDING_MASK) != 0;
        boolean extension = (b0 & EXTENSION_MASK) != 0;
        int csrcCount = b0 & CSRC_COUNT_MASK;

        int b1 = buf[offset + 1] & 0xFF;
        boolean marker = (b1 & MARKER_MASK) != 0;
        int payloadType = b1 & PAYLOAD_TYPE_MASK;
        int seq = readU16(buf, offset + 2);
        long timestamp = readU32(buf, offset + 4);
        long ssrc = readU32(buf, offset + 8);

        int headerEnd = FIXED_HEADER_BYTES + csrcCount * CSRC_BYTES;
        if (length < headerEnd) {
            return fail("header says CC=" + csrcCount + " but packet is " + length + " bytes");
        }
        long[] csrcs = csrcCount == 0 ? NO_CSRCS : new long[csrcCount];
        for (int i = 0; i < csrcCount; i++) {
            csrcs[i] = readU32(buf, offset + FIXED_HEADER_BYTES + i * CSRC_BYTES);
        }

        int extensionProfile = -1;
        if (extension) {
            if (length < headerEnd + EXTENSION_HEADER_BYTES) {
                return fail("header says X=1 but packet ends " + (length - headerEnd)
                        + " bytes after the CSRCs, the extension header needs 4");
            }
            extensionProfile = readU16(buf, offset + headerEnd);
            int words = readU16(buf, offset + headerEnd + 2);
            int extensionEnd = headerEnd + EXTENSION_HEADER_BYTES + words * 4;
            if (length < extensionEnd) {
                return fail("header extension says length=" + words + " words (" + words * 4
                        + " bytes) but only " + (length - headerEnd - EXTENSION_HEADER_BYTES) + " bytes follow");
            }
            headerEnd = extensionEnd;
        }

        int payloadEnd = length;
        if (padding) {
            if (length == headerEnd) {
                return fail("header says P=1 but the packet has no bytes after the " + headerEnd + "-byte header");
            }
            int paddingCount = buf[offset + length - 1] & 0xFF;
            if (paddingCount == 0) {
                return fail("header says P=1 but the padding count octet is 0 (it counts itself)");
            }
            if (paddingCount > length - headerEnd) {
                return fail("padding count " + paddingCount + " exceeds the " + (length - headerEnd)
                        + " bytes after the " + headerEnd + "-byte header");
            }
            payloadEnd = length - paddingCount;
        }
        byte[] payload = Arrays.copyOfRange(buf, offset + headerEnd, offset + payloadEnd);
        return ParseResult.ok(new RtpPacket(marker, payloadType, seq, timestamp, ssrc, csrcs, extensionProfile,
                payload));
    }

    /** Bytes this packet takes on the wire when written by {@link #writeTo}. */
    public int wireLength() {
        return FIXED_HEADER_BYTES + csrcs.length * CSRC_BYTES + payload.length;
    }

    /**
     * Writes the packet (version 2, no padding; the extension profile is not written back) into
     * {@code buf} at {@code offset}, returning the number of bytes written.
     */
    public int writeTo(byte[] buf, int offset) {
        int length = wireLength();
        if (buf.length - offset < length) {
            throw new IllegalArgumentException("buffer has " + (buf.length - offset) + " bytes, packet needs " + length);
        }
        buf[offset] = (byte) ((VERSION << VERSION_SHIFT) | csrcs.length);
        buf[offset + 1] = (byte) ((marker ? MARKER_MASK : 0) | payloadType);
        writeU16(buf, offset + 2, sequenceNumber);
        writeU32(buf, offset + 4, timestamp);
        writeU32(buf, offset + 8, ssrc);
        for (int i = 0; i < csrcs.length; i++) {
            writeU32(buf, offset + FIXED_HEADER_BYTES + i * CSRC_BYTES, csrcs[i]);
        }
        System.arraycopy(payload, 0, buf, offset + FIXED_HEADER_BYTES + csrcs.length * CSRC_BYTES, payload.length);
        return length;
    }

    public byte[] toBytes() {
        byte[] out = new byte[wireLength()];
        writeTo(out, 0);
        return out;
    }

    private static ParseResult<RtpPacket> fail(String message) {
        return ParseResult.failed(new RtpPacketException(message));
    }

    static int readU16(byte[] b, int at) {
        return ((b[at] & 0xFF) << 8) | (b[at + 1] & 0xFF);
    }

    static long readU32(byte[] b, int at) {
        return ((long) (b[at] & 0xFF) << 24) | ((b[at + 1] & 0xFF) << 16) | ((b[at + 2] & 0xFF) << 8)
                | (b[at + 3] & 0xFF);
    }

    static void writeU16(byte[] b, int at, int v) {
        b[at] = (byte) (v >>> 8);
        b[at + 1] = (byte) v;
    }

    static void writeU32(byte[] b, int at, long v) {
        b[at] = (byte) (v >>> 24);
        b[at + 1] = (byte) (v >>> 16);
        b[at + 2] = (byte) (v >>> 8);
        b[at + 3] = (byte) v;
    }

    @Override
    public String toString() {
        return "RtpPacket[PT=" + payloadType + " seq=" + sequenceNumber + " ts=" + timestamp + " ssrc=" + ssrc
                + (marker ? " M" : "") + " csrcs=" + csrcs.length + " payload=" + payload.length + "B]";
    }
}
