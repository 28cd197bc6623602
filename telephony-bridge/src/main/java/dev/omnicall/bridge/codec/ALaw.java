package dev.omnicall.bridge.codec;

/**
 * G.711 A-law (PCMA). The 13-bit magnitude is split into a 3-bit segment and 4 mantissa bits (segment 0
 * is linear), the sign bit is set for positive samples, and even bits are inverted (XOR 0x55) on the
 * wire. Both directions run from tables built once.
 */
public final class ALaw implements G711 {
    public static final int PAYLOAD_TYPE = 8;
    public static final ALaw INSTANCE = new ALaw();

    private static final int SIGN_BIT = 0x80;
    private static final int EVEN_BIT_INVERSION = 0x55;
    private static final int SEGMENT_SHIFT = 4;
    private static final int SEGMENT_MASK = 0x70;
    private static final int MANTISSA_MASK = 0x0F;

    private static final short[] DECODE = new short[256];
    private static final byte[] ENCODE = new byte[65536];

    static {
        for (int code = 0; code < 256; code++) {
            DECODE[code] = decodeSlow((byte) code);
        }
        for (int s = Short.MIN_VALUE; s <= Short.MAX_VALUE; s++) {
            ENCODE[s & 0xFFFF] = encodeSlow((short) s);
        }
    }

    private ALaw() {
    }

    static byte encodeSlow(short sample) {
        int s = sample >> 3; // A-law works on 13 bits
        int sign;
        if (s >= 0) {
            sign = SIGN_BIT;
        } else {
            sign = 0;
            s = -s - 1;
        }
        int segment = 0;
        for (int limit = 0x1F; s > limit && segment < 8; limit = (limit << 1) | 1) {
            segment++;
        }
        int code;
        if (segment >= 8) {
            code = 0x7F; // clip to the largest magnitude
        } else {
            int mantissa = segment < 2 ? (s >> 1) & MANTISSA_MASK : (s >> segment) & MANTISSA_MASK;
            code = (segment << SEGMENT_SHIFT) | mantissa;
        }
        return (byte) ((code | sign) ^ EVEN_BIT_INVERSION);
    }

    static short decodeSlow(byte code) {
        int a = (code & 0xFF) ^ EVEN_BIT_INVERSION;
        int mantissa = a & MANTISSA_MASK;
        int segment = (a & SEGMENT_MASK) >> SEGMENT_SHIFT;
        int magnitude = (mantissa << 4) + 8;
        if (segment >= 1) {
            magnitude += 0x100;
        }
        if (segment > 1) {
            magnitude <<= segment - 1;
        }
        return (short) ((a & SIGN_BIT) != 0 ? magnitude : -magnitude);
    }

    @Override
    public String encodingName() {
        return "PCMA";
    }

    @Override
    public int payloadType() {
        return PAYLOAD_TYPE;
    }

    @Override
    public byte silence() {
        return (byte) 0xD5;
    }

    @Override
    public byte encode(short sample) {
        return ENCODE[sample & 0xFFFF];
    }

    @Override
    public short decode(byte code) {
        return DECODE[code & 0xFF];
    }

    @Override
    public String toString() {
        return "PCMA";
    }
}
