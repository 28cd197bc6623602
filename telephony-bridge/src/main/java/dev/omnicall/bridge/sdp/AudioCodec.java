package dev.omnicall.bridge.sdp;

/** The G.711 codecs the bridge speaks, with their static RTP payload types (RFC 3551 §6, table 4). */
public enum AudioCodec {
    PCMU(0, "PCMU"),
    PCMA(8, "PCMA");

    public static final int CLOCK_RATE = 8000;

    private final int staticPayloadType;
    private final String encodingName;

    AudioCodec(int staticPayloadType, String encodingName) {
        this.staticPayloadType = staticPayloadType;
        this.encodingName = encodingName;
    }

    public int staticPayloadType() {
        return staticPayloadType;
    }

    public String encodingName() {
        return encodingName;
    }
}
