package dev.omnicall.bridge.rtp;

import java.util.Arrays;
import java.util.TreeMap;
import java.util.function.Consumer;

/**
 * Puts received RTP packets back in sequence order and hides losses, driven by packet arrival (no timer).
 *
 * <p>In-order packets pass straight through, so a clean stream gets no added delay. When a packet is
 * missing, later ones wait until {@code depth} of them are held; then the gap is declared lost and filled
 * with a concealment packet (silence or a repeat of the previous payload), and the held packets follow.
 * A packet older than the next one to be released is late: it is dropped and counted. Sequence numbers
 * wrap at 65535 ({@link SequenceExtender}). A jump of more than {@code resyncGap} restarts the buffer
 * (a new sender or a restarted stream) instead of concealing thousands of packets.
 *
 * <p>Concealment assumes one byte per sample (G.711), so a concealed packet advances the timestamp by the
 * step seen between the previous two packets, or by its payload length. Not thread-safe: one receive
 * loop owns it.
 */
public final class JitterBuffer {

    public enum Concealment { SILENCE, REPEAT }

    /** A packet released in order; {@code concealed} packets were synthesized for a lost one. */
    public record Slot(long index, RtpPacket packet, boolean concealed) {}

    private final int depth;
    private final int resyncGap;
    private final Concealment concealment;
    private final byte silenceByte;
    private final Consumer<Slot> out;
    private final SequenceExtender extender = new SequenceExtender();
    private final TreeMap<Long, RtpPacket> held = new TreeMap<>();

    private long nextIndex = -1;
    private RtpPacket previous;
    private long timestampStep = -1;

    private long released;
    private long lost;
    private long late;
    private long duplicates;
    private long resyncs;

    /**
     * @param depth        packets held behind a gap before it is declared lost (1..64)
     * @param concealment  what replaces a lost packet
     * @param silenceByte  the codec's silence octet for {@link Concealment#SILENCE} (0xFF μ-law, 0xD5 A-law)
     * @param out          receives released slots in order
     */
    public JitterBuffer(int depth, Concealment concealment, byte silenceByte, Consumer<Slot> out) {
        if (depth < 1 || depth > 64) {
            throw new IllegalArgumentException("jitter buffer depth " + depth + " is outside 1..64 packets");
        }
        this.depth = depth;
        this.resyncGap = 1000;
        this.concealment = concealment;
        this.silenceByte = silenceByte;
        this.out = out;
    }

    public void offer(RtpPacket packet) {
        long index = extender.extend(packet.sequenceNumber());
        if (nextIndex < 0) {
            nextIndex = index;
        }
        long distance = index - nextIndex;
        if (distance > resyncGap || distance < -resyncGap) {
            resyncs++;
            held.clear();
            extender.reset();
            index = extender.extend(packet.sequenceNumber());
            nextIndex = index;
        } else if (distance < 0) {
            late++;
            return;
        }
        if (held.putIfAbsent(index, packet) != null) {
            duplicates++;
            return;
        }
        drain(false);
    }

    /** Releases everything held, concealing gaps; call when the stream ends or pauses. */
    public void flush() {
        drain(true);
    }

    private void drain(boolean all) {
        while (!held.isEmpty()) {
            RtpPacket next = held.get(nextIndex);
            if (next != null) {
                held.remove(nextIndex);
                release(new Slot(nextIndex, next, false));
            } else if (all || held.size() >= depth) {
                lost++;
                release(new Slot(nextIndex, conceal(nextIndex), true));
            } else {
                return;
            }
            nextIndex++;
        }
    }

    private void release(Slot slot) {
        RtpPacket p = slot.packet();
        if (previous != null && !slot.concealed()) {
            long step = (p.timestamp() - previous.timestamp()) & 0xFFFF_FFFFL;
            if (step > 0 && step < 0x10000) {
                timestampStep = step;
            }
        }
        if (p.payload().length > 0) {
            previous = p;
        }
        released++;
        out.accept(slot);
    }

    private RtpPacket conceal(long index) {
        if (previous == null) {
            // Nothing to model the loss on (the first packets were lost): release an empty placeholder.
            return RtpPacket.of(false, 0, (int) (index & 0xFFFF), 0, 0, new byte[0]);
        }
        byte[] payload = concealment == Concealment.REPEAT
                ? previous.payload().clone()
                : filled(previous.payload().length, silenceByte);
        long step = timestampStep > 0 ? timestampStep : previous.payload().length;
        return RtpPacket.of(false, previous.payloadType(), (int) (index & 0xFFFF),
                (previous.timestamp() + step) & 0xFFFF_FFFFL, previous.ssrc(), payload);
    }

    private static byte[] filled(int n, byte b) {
        byte[] a = new byte[n];
        Arrays.fill(a, b);
        return a;
    }

    public int held() {
        return held.size();
    }

    public long released() {
        return released;
    }

    /** Packets declared lost and concealed. */
    public long lost() {
        return lost;
    }

    /** Packets that arrived after their slot was released (dropped). */
    public long late() {
        return late;
    }

    public long duplicates() {
        return duplicates;
    }

    public long resyncs() {
        return resyncs;
    }
}
