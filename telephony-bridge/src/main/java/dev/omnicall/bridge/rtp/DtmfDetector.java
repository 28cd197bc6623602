package dev.omnicall.bridge.rtp;

import java.util.function.Consumer;

/**
 * Turns a stream of RFC 4733 telephone-event packets into one {@link DtmfDigit} per key press.
 *
 * <p>All packets of one event share its RTP timestamp (§2.5.1.3), and the end packet is sent three
 * times (§2.5.1.4): the first end packet of a timestamp reports the digit; its retransmissions are
 * ignored. If every end packet is lost, the digit is reported when the next event (a new timestamp)
 * begins, with the last duration seen. Not thread-safe.
 */
public final class DtmfDetector {

    /** A finished key press. */
    public record DtmfDigit(char digit, int durationMs) {}

    private final int clockRate;
    private final Consumer<DtmfDigit> out;

    private boolean inEvent;
    private long eventTimestamp;
    private int event;
    private int lastDuration;
    private boolean reported;
    private long reportedTimestamp = -1;

    public DtmfDetector(int clockRate, Consumer<DtmfDigit> out) {
        this.clockRate = clockRate;
        this.out = out;
    }

    public void onPacket(long rtpTimestamp, TelephoneEvent e) {
        if (!e.isDtmf()) {
            return; // tones, flash-hook etc.: not digits
        }
        if (rtpTimestamp == reportedTimestamp) {
            return; // a retransmitted end packet of a reported digit
        }
        if (inEvent && rtpTimestamp != eventTimestamp && !reported) {
            report(eventTimestamp, event, lastDuration); // its end packets never came
        }
        if (!inEvent || rtpTimestamp != eventTimestamp) {
            inEvent = true;
            reported = false;
            eventTimestamp = rtpTimestamp;
            event = e.event();
        }
        lastDuration = Math.max(lastDuration, e.duration());
        if (e.end()) {
            report(rtpTimestamp, e.event(), e.duration());
            reported = true;
            inEvent = false;
        }
    }

    private void report(long timestamp, int eventCode, int duration) {
        reportedTimestamp = timestamp;
        lastDuration = 0;
        out.accept(new DtmfDigit(new TelephoneEvent(eventCode, true, 0, 0).digit(), duration * 1000 / clockRate));
    }
}
