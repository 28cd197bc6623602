package dev.omnicall.bridge.codec;

/**
 * A G.711 codec (ITU-T G.711, RTP payload formats of RFC 3551 §4.5.14): one 8-bit code per 16-bit
 * sample at 8 kHz. {@link MuLaw} is PCMU (static payload type 0), {@link ALaw} is PCMA (8).
 */
public sealed interface G711 permits MuLaw, ALaw {

    int CLOCK_RATE = 8000;

    static G711 forPayloadType(int payloadType) {
        return switch (payloadType) {
            case MuLaw.PAYLOAD_TYPE -> MuLaw.INSTANCE;
            case ALaw.PAYLOAD_TYPE -> ALaw.INSTANCE;
            default -> throw new IllegalArgumentException("payload type " + payloadType + " is not G.711 (0 PCMU, 8 PCMA)");
        };
    }

    /** The SDP encoding name: PCMU or PCMA. */
    String encodingName();

    int payloadType();

    /** The code of a zero sample, used to fill silence. */
    byte silence();

    byte encode(short sample);

    short decode(byte code);

    default void encode(short[] pcm, int from, int count, byte[] out, int outOffset) {
        for (int i = 0; i < count; i++) {
            out[outOffset + i] = encode(pcm[from + i]);
        }
    }

    default short[] decode(byte[] codes) {
        short[] pcm = new short[codes.length];
        for (int i = 0; i < codes.length; i++) {
            pcm[i] = decode(codes[i]);
        }
        return pcm;
    }

    default byte[] encode(short[] pcm) {
        byte[] out = new byte[pcm.length];
        encode(pcm, 0, pcm.length, out, 0);
        return out;
    }
}
