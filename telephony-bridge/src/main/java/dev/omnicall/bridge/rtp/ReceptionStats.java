package dev.omnicall.bridge.rtp;

/**
 * Receiver statistics of one RTP source, as RFC 3550 §6.4.1 and Appendix A.3/A.8 define them:
 * cumulative loss (expected minus received) and the interarrival jitter estimate
 * {@code J += (|D| - J) / 16}, where D compares arrival spacing with timestamp spacing.
 * Not thread-safe: the receive loop updates it; readers take a {@link #snapshot()} under the caller's lock.
 */
public final class ReceptionStats {
    private final int clockRate;
    private final SequenceExtender extender = new SequenceExtender();
    private long baseIndex = -1;
    private long received;
    private boolean haveTransit;
    private long lastTransit;
    private double jitter; // timestamp units

    public ReceptionStats(int clockRate) {
        this.clockRate = clockRate;
    }

    /**
     * Records one packet.
     *
     * @param seq          its 16-bit sequence number
     * @param rtpTimestamp its RTP timestamp
     * @param arrivalNanos arrival time on a monotonic clock
     * @param inJitter     false for packets whose timestamps follow another clock (telephone-events
     *                     repeat the event's start timestamp, RFC 4733 §2.5.1.3)
     */
    public void onPacket(int seq, long rtpTimestamp, long arrivalNanos, boolean inJitter) {
        long index = extender.extend(seq);
        if (baseIndex < 0 || index < baseIndex) {
            baseIndex = index;
        }
        received++;
        if (!inJitter) {
            return;
        }
        long arrival = Math.floorDiv(arrivalNanos * clockRate, 1_000_000_000L);
        long transit = arrival - rtpTimestamp;
        if (haveTransit) {
            long d = Math.abs(transit - lastTransit);
            jitter += (d - jitter) / 16.0;
        }
        lastTransit = transit;
        haveTransit = true;
    }

    public long received() {
        return received;
    }

    public long expected() {
        return baseIndex < 0 ? 0 : extender.highest() - baseIndex + 1;
    }

    /** Cumulative packets lost; negative when duplicates outnumber losses, as RFC 3550 allows. */
    public long lost() {
        return expected() - received;
    }

    public double jitterMillis() {
        return jitter * 1000.0 / clockRate;
    }
}
