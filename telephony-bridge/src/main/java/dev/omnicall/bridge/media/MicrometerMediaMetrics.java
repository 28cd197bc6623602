package dev.omnicall.bridge.media;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** {@link MediaMetrics} on a Micrometer registry: counters {@code omnicall.rtp.*}, a send-lateness timer. */
public final class MicrometerMediaMetrics implements MediaMetrics {
    private final Counter received;
    private final Counter lost;
    private final Counter late;
    private final Counter malformed;
    private final Counter wrongPayloadType;
    private final Counter unknownSource;
    private final Counter sent;
    private final Counter sendDropped;
    private final Counter bargeIns;
    private final Counter dtmf;
    private final Counter segments;
    private final Timer sendLateness;
    private final Map<String, Counter> speculation = new java.util.concurrent.ConcurrentHashMap<>();
    private final Map<String, DistributionSummary> endOfTurnWait = new java.util.concurrent.ConcurrentHashMap<>();
    private final MeterRegistry registry;
    private final Map<PlayoutBuffer.Outcome, Counter> rejected = new EnumMap<>(PlayoutBuffer.Outcome.class);

    public MicrometerMediaMetrics(MeterRegistry registry) {
        this.registry = registry;
        for (String o : new String[] {"started", "confirmed", "cancelled"}) {
            speculation.put(o, Counter.builder("omnicall.media.speculative-turns").tag("outcome", o)
                    .description("speculative turns: started at a tentative end, confirmed, cancelled").register(registry));
        }
        received = Counter.builder("omnicall.rtp.packets.received").register(registry);
        lost = Counter.builder("omnicall.rtp.packets.lost").register(registry);
        late = Counter.builder("omnicall.rtp.packets.late").register(registry);
        malformed = Counter.builder("omnicall.rtp.packets.rejected").tag("reason", "malformed").register(registry);
        wrongPayloadType = Counter.builder("omnicall.rtp.packets.rejected").tag("reason", "payload-type")
                .register(registry);
        unknownSource = Counter.builder("omnicall.rtp.packets.rejected").tag("reason", "unknown-source")
                .register(registry);
        sent = Counter.builder("omnicall.rtp.packets.sent").register(registry);
        sendDropped = Counter.builder("omnicall.rtp.packets.send-dropped")
                .description("reply RTP not sent: the socket's send buffer was full").register(registry);
        bargeIns = Counter.builder("omnicall.media.barge-ins").register(registry);
        dtmf = Counter.builder("omnicall.media.dtmf-digits").register(registry);
        segments = Counter.builder("omnicall.media.segments").register(registry);
        sendLateness = Timer.builder("omnicall.rtp.send.lateness")
                .publishPercentiles(0.5, 0.99)
                .maximumExpectedValue(Duration.ofMillis(50))
                .register(registry);
        for (PlayoutBuffer.Outcome o : PlayoutBuffer.Outcome.values()) {
            rejected.put(o, Counter.builder("omnicall.media.chunks.rejected").tag("outcome", o.name())
                    .register(registry));
        }
    }

    @Override public void packetReceived() { received.increment(); }
    @Override public void packetsLost(long count) { lost.increment(count); }
    @Override public void packetLate() { late.increment(); }
    @Override public void packetMalformed() { malformed.increment(); }
    @Override public void packetWrongPayloadType() { wrongPayloadType.increment(); }
    @Override public void packetUnknownSource() { unknownSource.increment(); }
    @Override public void packetSent() { sent.increment(); }
    @Override public void sendDropped() { sendDropped.increment(); }
    @Override public void sendLatenessMicros(long micros) { sendLateness.record(micros, TimeUnit.MICROSECONDS); }
    @Override public void bargeIn() { bargeIns.increment(); }
    @Override public void dtmfDigit() { dtmf.increment(); }
    @Override public void segmentEmitted() { segments.increment(); }
    @Override public void chunkRejected(PlayoutBuffer.Outcome outcome) { rejected.get(outcome).increment(); }
    @Override public void speculation(String outcome) {
        speculation.computeIfAbsent(outcome, o -> Counter.builder("omnicall.media.speculative-turns").tag("outcome", o)
                .register(registry)).increment();
    }
    @Override public void endOfTurnWait(int silenceMs, String reason) {
        endOfTurnWait.computeIfAbsent(reason, r -> DistributionSummary.builder("omnicall.media.end-of-turn.wait")
                .baseUnit("milliseconds").tag("reason", r).publishPercentiles(0.5, 0.99)
                .description("trailing silence that ended an utterance (the adaptive end-of-turn wait, or the fixed one)")
                .register(registry)).record(silenceMs);
    }
}
