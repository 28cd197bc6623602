package dev.omnicall.bridge.rtp;

/**
 * Extends 16-bit RTP sequence numbers to a 64-bit index that keeps counting across wrap-around
 * (RFC 3550 §A.1 keeps a cycle count for the same purpose). A number is placed at the index nearest to
 * the highest seen so far, so a packet reordered across the wrap (65535 after 0) lands before it.
 */
public final class SequenceExtender {
    private static final int SEQ_MODULUS = 1 << 16;
    private boolean started;
    private long highest;

    /** The extended index of {@code seq}; advances the highest index when {@code seq} is newer. */
    public long extend(int seq) {
        if (!started) {
            started = true;
            highest = seq;
            return seq;
        }
        int delta = (short) (seq - (int) (highest & 0xFFFF)); // signed distance, -32768..32767
        long extended = highest + delta;
        if (extended < 0) {
            extended += SEQ_MODULUS; // before the very first cycle: keep indices non-negative
        }
        if (extended > highest) {
            highest = extended;
        }
        return extended;
    }

    public long highest() {
        return highest;
    }

    public boolean started() {
        return started;
    }

    public void reset() {
        started = false;
        highest = 0;
    }
}
