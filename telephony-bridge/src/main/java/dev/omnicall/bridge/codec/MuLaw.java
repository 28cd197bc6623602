package dev.omnicall.bridge.codec;

/**
 * G.711 μ-law (PCMU). A sample is biased by 0x84, its segment (exponent) is the position of the highest
 * set bit above bit 7, four mantissa bits follow it, and the code is the ones' complement of
 * {@code sign | exponent << 4 | mantissa}. Both directions run from tables built once.
 */
public final class MuLaw implements G711 {
    public static final int PAYLOAD_TYPE = 0;
    public static final MuLaw INSTANCE = new MuLaw();

    private static final int BIAS = 0x84;
    private static final int CLIP = 32635;
    private static final int SIGN_BIT = 0x80;
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

    private MuLaw() {
    }

    static byte encodeSlow(short sample) {
        int s = sample;
        int sign = 0;
        if (s < 0) {
            s = -s;
            sign = SIGN_BIT;
        }
        if (s > CLIP) {
            s = CLIP;
        }
        s += BIAS;
        int exponent = 7;
        for (int mask = 0x4000; (s & mask) == 0 && exponent > 0; mask >>= 1) {
            exponent--;
        }
        int mantissa = (s >> (exponent + 3)) & MANTISSA_MASK;
        return (byte) ~(sign | (exponent << SEGMENT_SHIFT) | mantissa);
    }

    static short decodeSlow(byte code) {
        int u = ~code & 0xFF;
        int exponent = (u & SEGMENT_MASK) >> SEGMENT_SHIFT;
        int mantissa = u & MANTISSA_MASK;
        int magnitude = (((mantissa << 3) + BIAS) << exponent) - BIAS;
        return (short) ((u & SIGN_BIT) != 0 ? -magnitude : magnitude);
    }

    @Override
    public String encodingName() {
        return "PCMU";
    }

    @Override
    public int payloadType() {
        return PAYLOAD_TYPE;
    }

    @Override
    public byte silence() {
        return (byte) 0xFF;
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
        return "PCMU";
    }
}
