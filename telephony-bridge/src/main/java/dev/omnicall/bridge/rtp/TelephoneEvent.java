package dev.omnicall.bridge.rtp;

/**
 * One RFC 4733 telephone-event (named event) payload block.
 *
 * @param event       event code; 0-9 digits, 10 '*', 11 '#', 12-15 A-D (RFC 4733 §3.2)
 * @param end         E bit: the last packets of the event
 * @param volume      power level in -dBm0, 0..63
 * @param duration    duration so far, in RTP timestamp units, 0..65535
 */
public record TelephoneEvent(int event, boolean end, int volume, int duration) {

    public static final int PAYLOAD_BYTES = 4;

    private static final int END_MASK = 0x80;
    private static final int RESERVED_MASK = 0x40; // R: written as 0, ignored on receipt
    private static final int VOLUME_MASK = 0x3F;
    private static final String DTMF_DIGITS = "0123456789*#ABCD";

    /*
     * RFC 4733 §2.3, payload format for named events:
     *
     *  0                   1                   2                   3
     *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
     * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
     * |     event     |E|R| volume    |          duration             |
     * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
     *
     * R is reserved: senders set 0, receivers ignore it (§2.3.3). A packet may carry several 4-byte
     * blocks (§2.5.1.5, redundant or multiple events); the last block is the current one.
     */
    public static ParseResult<TelephoneEvent> parse(byte[] payload) {
        if (payload.length < PAYLOAD_BYTES) {
            return ParseResult.failed(new TelephoneEventException(
                    "payload is " + payload.length + " bytes, a telephone-event needs 4"));
        }
        if (payload.length % PAYLOAD_BYTES != 0) {
            return ParseResult.failed(new TelephoneEventException(
                    "payload is " + payload.length + " bytes, not a whole number of 4-byte events"));
        }
        int at = payload.length - PAYLOAD_BYTES;
        int event = payload[at] & 0xFF;
        int flags = payload[at + 1] & 0xFF;
        boolean end = (flags & END_MASK) != 0;
        int volume = flags & VOLUME_MASK;
        int duration = RtpPacket.readU16(payload, at + 2);
        return ParseResult.ok(new TelephoneEvent(event, end, volume, duration));
    }

    public byte[] toBytes() {
        byte[] b = new byte[PAYLOAD_BYTES];
        b[0] = (byte) event;
        b[1] = (byte) ((end ? END_MASK : 0) | (volume & VOLUME_MASK & ~RESERVED_MASK));
        RtpPacket.writeU16(b, 2, duration);
        return b;
    }

    /** True for events 0-15, the DTMF digits. */
    public boolean isDtmf() {
        return event >= 0 && event < DTMF_DIGITS.length();
    }

    /** The DTMF digit as a character, e.g. '5', '*', '#', 'A'. */
    public char digit() {
        if (!isDtmf()) {
            throw new IllegalStateException("event " + event + " is not a DTMF digit");
        }
        return DTMF_DIGITS.charAt(event);
    }
}
