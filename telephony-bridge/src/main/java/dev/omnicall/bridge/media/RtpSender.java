package dev.omnicall.bridge.media;

import dev.omnicall.bridge.codec.G711;
import dev.omnicall.bridge.rtp.RtpPacket;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.security.SecureRandom;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sends one call's reply audio as RTP, ticked by the {@link RtpPacer} every ptime on an absolute clock.
 *
 * <p>Each tick takes one packet's worth of 8 kHz audio from the {@link PlayoutBuffer}, encodes it with
 * the call's codec and sends it. The RTP timestamp advances by the samples of one packet on every tick,
 * sent or not, so a pause shows up as a timestamp jump (RFC 3550 §5.1); the sequence number advances
 * only per packet sent. The first packet after a pause carries the marker bit (RFC 3551 §4.1). SSRC,
 * first sequence number and first timestamp are random per call (RFC 3550 §5.1, §8.1).
 */
public final class RtpSender implements RtpPacer.Task {
    private static final Logger LOG = LoggerFactory.getLogger(RtpSender.class);
    private static final SecureRandom RANDOM = new SecureRandom();

    private final DatagramChannel channel;
    private final PlayoutBuffer playout;
    private final MediaListener listener;
    private final MediaMetrics metrics;
    private final LongSupplier epochMicros;
    private final LatencyHistogram lateness = new LatencyHistogram();
    private final long ssrc;
    private final byte[] wire = new byte[RtpPacket.FIXED_HEADER_BYTES + 480];
    private final ByteBuffer out = ByteBuffer.wrap(wire);

    private volatile InetSocketAddress remote;
    private volatile G711 codec;
    private volatile int ptimeMs;
    private volatile boolean held;

    // pacer thread only
    private int sequence;
    private long timestamp;
    private boolean talking;
    private volatile long sent;

    public RtpSender(DatagramChannel channel, PlayoutBuffer playout, G711 codec, int ptimeMs, InetSocketAddress remote,
                     MediaListener listener, MediaMetrics metrics, LongSupplier epochMicros) {
        checkPtime(ptimeMs);
        this.channel = channel;
        this.playout = playout;
        this.codec = codec;
        this.ptimeMs = ptimeMs;
        this.remote = remote;
        this.listener = listener;
        this.metrics = metrics;
        this.epochMicros = epochMicros;
        this.ssrc = RANDOM.nextInt() & 0xFFFF_FFFFL;
        this.sequence = RANDOM.nextInt(1 << 16);
        this.timestamp = RANDOM.nextInt() & 0xFFFF_FFFFL;
    }

    static void checkPtime(int ptimeMs) {
        if (ptimeMs != 10 && ptimeMs != 20 && ptimeMs != 30 && ptimeMs != 40) {
            throw new IllegalArgumentException("ptime " + ptimeMs + " ms is not one of 10, 20, 30, 40");
        }
    }

    @Override
    public long periodNanos() {
        return ptimeMs * 1_000_000L;
    }

    @Override
    public void tick(long scheduledNanos) {
        int samples = ptimeMs * G711.CLOCK_RATE / 1000;
        long packetTimestamp = timestamp;
        timestamp = (timestamp + samples) & 0xFFFF_FFFFL;
        InetSocketAddress to = remote;
        if (held || to == null) {
            talking = false;
            return;
        }
        PlayoutBuffer.Frame frame = playout.poll(samples);
        if (frame == null) {
            talking = false;
            return;
        }
        G711 c = codec;
        RtpPacket packet = RtpPacket.of(!talking, c.payloadType(), sequence, packetTimestamp, ssrc, c.encode(frame.pcm8k()));
        int length = packet.writeTo(wire, 0);
        try {
            out.clear().limit(length);
            if (channel.send(out, to) == 0) {
                // non-blocking channel and no room in the socket's send buffer: the audio is lost, the timestamp
                // goes on (a gap the caller's jitter buffer conceals); the sequence number counts packets sent
                metrics.sendDropped();
                return;
            }
        } catch (IOException e) {
            LOG.debug("RTP send to {} failed: {}", to, e.toString());
            return;
        }
        long late = (System.nanoTime() - scheduledNanos) / 1000;
        lateness.record(late);
        metrics.sendLatenessMicros(late);
        metrics.packetSent();
        sent++;
        sequence = (sequence + 1) & 0xFFFF;
        talking = true;
        if (frame.firstOfTurn()) {
            safely(() -> listener.onPlaybackStarted(frame.turn(), epochMicros.getAsLong()));
        }
        if (frame.lastOfTurn()) {
            safely(() -> listener.onPlaybackFinished(frame.turn()));
        }
    }

    private static void safely(Runnable r) {
        try {
            r.run();
        } catch (RuntimeException e) {
            LOG.warn("media listener failed", e);
        }
    }

    public void updateRemote(InetSocketAddress remote, G711 codec, int ptimeMs) {
        checkPtime(ptimeMs);
        this.remote = remote;
        this.codec = codec;
        this.ptimeMs = ptimeMs;
    }

    void latchRemote(InetSocketAddress remote) {
        this.remote = remote;
    }

    public InetSocketAddress remote() {
        return remote;
    }

    public void hold(boolean on) {
        held = on;
    }

    public long ssrc() {
        return ssrc;
    }

    public long packetsSent() {
        return sent;
    }

    public LatencyHistogram lateness() {
        return lateness;
    }
}
