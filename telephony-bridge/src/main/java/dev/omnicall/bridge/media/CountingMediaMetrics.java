package dev.omnicall.bridge.media;

import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;

/** {@link MediaMetrics} as plain counters, for tests, the benchmark and logs. */
public final class CountingMediaMetrics implements MediaMetrics {
    public final LongAdder received = new LongAdder();
    public final LongAdder lost = new LongAdder();
    public final LongAdder late = new LongAdder();
    public final LongAdder malformed = new LongAdder();
    public final LongAdder wrongPayloadType = new LongAdder();
    public final LongAdder unknownSource = new LongAdder();
    public final LongAdder sent = new LongAdder();
    public final LongAdder sendDropped = new LongAdder();
    public final LongAdder bargeIns = new LongAdder();
    public final LongAdder dtmfDigits = new LongAdder();
    public final LongAdder segments = new LongAdder();
    public final LongAdder speculativeStarted = new LongAdder();
    public final LongAdder speculativeConfirmed = new LongAdder();
    public final LongAdder speculativeCancelled = new LongAdder();
    public final LatencyHistogram sendLateness = new LatencyHistogram();
    /** End-of-turn waits by reason: count and sum of ms. */
    public final Map<String, LongAdder> endOfTurnWaits = new java.util.concurrent.ConcurrentHashMap<>();
    public final Map<String, LongAdder> endOfTurnWaitMs = new java.util.concurrent.ConcurrentHashMap<>();
    private final Map<PlayoutBuffer.Outcome, LongAdder> rejected = new EnumMap<>(PlayoutBuffer.Outcome.class);

    public CountingMediaMetrics() {
        for (PlayoutBuffer.Outcome o : PlayoutBuffer.Outcome.values()) {
            rejected.put(o, new LongAdder());
        }
    }

    @Override public void packetReceived() { received.increment(); }
    @Override public void packetsLost(long count) { lost.add(count); }
    @Override public void packetLate() { late.increment(); }
    @Override public void packetMalformed() { malformed.increment(); }
    @Override public void packetWrongPayloadType() { wrongPayloadType.increment(); }
    @Override public void packetUnknownSource() { unknownSource.increment(); }
    @Override public void packetSent() { sent.increment(); }
    @Override public void sendDropped() { sendDropped.increment(); }
    @Override public void sendLatenessMicros(long micros) { sendLateness.record(micros); }
    @Override public void bargeIn() { bargeIns.increment(); }
    @Override public void dtmfDigit() { dtmfDigits.increment(); }
    @Override public void segmentEmitted() { segments.increment(); }
    @Override public void chunkRejected(PlayoutBuffer.Outcome outcome) { rejected.get(outcome).increment(); }
    @Override public void speculation(String outcome) {
        switch (outcome) {
            case "started" -> speculativeStarted.increment();
            case "confirmed" -> speculativeConfirmed.increment();
            case "cancelled" -> speculativeCancelled.increment();
            default -> throw new IllegalArgumentException("speculation outcome " + outcome);
        }
    }

    @Override public void endOfTurnWait(int silenceMs, String reason) {
        endOfTurnWaits.computeIfAbsent(reason, r -> new LongAdder()).increment();
        endOfTurnWaitMs.computeIfAbsent(reason, r -> new LongAdder()).add(silenceMs);
    }

    public long rejected(PlayoutBuffer.Outcome outcome) {
        return rejected.get(outcome).sum();
    }
}
