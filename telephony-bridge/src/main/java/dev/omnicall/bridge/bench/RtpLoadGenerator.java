package dev.omnicall.bridge.bench;

import dev.omnicall.bridge.codec.MuLaw;
import dev.omnicall.bridge.rtp.ParseResult;
import dev.omnicall.bridge.rtp.RtpPacket;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Plays N callers against a bridge: each caller sends PCMU RTP (20 ms, absolute clock) from its own UDP
 * port and checks the RTP the bridge sends back (sequence gaps = loss). One send thread and one
 * selector thread serve all callers, so the generator's own cost stays small next to the bridge's.
 */
final class RtpLoadGenerator implements AutoCloseable {

    /** One simulated caller. */
    static final class Caller {
        final DatagramChannel channel;
        InetSocketAddress bridge;
        final int ssrc;
        int seq;
        long timestamp;
        final AtomicLong received = new AtomicLong();
        final AtomicLong gaps = new AtomicLong();
        /** RFC 3550 interarrival jitter of the bridge's RTP as this caller hears it (receive thread only). */
        final dev.omnicall.bridge.rtp.ReceptionStats heard = new dev.omnicall.bridge.rtp.ReceptionStats(8000);
        volatile double jitterMs;
        int lastSeq = -1;

        Caller(DatagramChannel channel, int ssrc) {
            this.channel = channel;
            this.ssrc = ssrc;
        }

        InetSocketAddress localAddress() throws IOException {
            return (InetSocketAddress) channel.getLocalAddress();
        }
    }

    private final List<Caller> callers = new ArrayList<>();
    private final short[] audio8k;
    private final Selector selector;
    private volatile boolean running = true;
    private volatile boolean sending = true;
    private Thread sender;
    private Thread receiver;
    final AtomicLong sent = new AtomicLong();

    RtpLoadGenerator(short[] audio8k) throws IOException {
        this.audio8k = audio8k;
        this.selector = Selector.open();
    }

    Caller addCaller(InetSocketAddress bind) throws IOException {
        DatagramChannel ch = DatagramChannel.open();
        ch.bind(bind);
        ch.configureBlocking(false);
        Caller c = new Caller(ch, 0x10000 + callers.size());
        callers.add(c);
        return c;
    }

    void start() throws IOException {
        for (Caller c : callers) {
            c.channel.register(selector, SelectionKey.OP_READ, c);
        }
        sender = new Thread(this::sendLoop, "loadgen-send");
        receiver = new Thread(this::receiveLoop, "loadgen-recv");
        sender.setDaemon(true);
        receiver.setDaemon(true);
        sender.start();
        receiver.start();
    }

    private void sendLoop() {
        ByteBuffer buf = ByteBuffer.allocate(400);
        byte[] wire = new byte[400];
        long start = System.nanoTime();
        int position = 0;
        for (long n = 0; running && sending; n++) {
            short[] frame = new short[160];
            for (int i = 0; i < 160; i++) {
                frame[i] = audio8k[(position + i) % audio8k.length];
            }
            position = (position + 160) % audio8k.length;
            byte[] payload = MuLaw.INSTANCE.encode(frame);
            for (Caller c : callers) {
                RtpPacket p = RtpPacket.of(n == 0, 0, c.seq, c.timestamp, c.ssrc, payload);
                c.seq = (c.seq + 1) & 0xFFFF;
                c.timestamp = (c.timestamp + 160) & 0xFFFF_FFFFL;
                int len = p.writeTo(wire, 0);
                buf.clear();
                buf.put(wire, 0, len).flip();
                try {
                    c.channel.send(buf, c.bridge);
                    sent.incrementAndGet();
                } catch (IOException e) {
                    // counted as not sent
                }
            }
            long due = start + (n + 1) * 20_000_000L;
            long wait;
            while ((wait = due - System.nanoTime()) > 0) {
                java.util.concurrent.locks.LockSupport.parkNanos(wait);
            }
        }
    }

    private void receiveLoop() {
        ByteBuffer buf = ByteBuffer.allocate(1500);
        byte[] bytes = new byte[1500];
        while (running) {
            try {
                selector.select(100);
                for (SelectionKey key : selector.selectedKeys()) {
                    Caller c = (Caller) key.attachment();
                    while (true) {
                        buf.clear();
                        if (c.channel.receive(buf) == null) {
                            break;
                        }
                        buf.flip();
                        int len = buf.remaining();
                        buf.get(bytes, 0, len);
                        ParseResult<RtpPacket> r = RtpPacket.parse(bytes, 0, len);
                        if (r instanceof ParseResult.Ok<RtpPacket> ok) {
                            int seq = ok.value().sequenceNumber();
                            if (c.lastSeq >= 0) {
                                int delta = (seq - c.lastSeq) & 0xFFFF;
                                if (delta > 1 && delta < 0x8000) {
                                    c.gaps.addAndGet(delta - 1);
                                }
                            }
                            c.lastSeq = seq;
                            c.received.incrementAndGet();
                            c.heard.onPacket(seq, ok.value().timestamp(), System.nanoTime(), true);
                            c.jitterMs = c.heard.jitterMillis();
                        }
                    }
                }
                selector.selectedKeys().clear();
            } catch (IOException e) {
                return;
            }
        }
    }

    /** Callers stop sending (the bridge's backlog can drain); they go on receiving. */
    void stopSending() {
        sending = false;
    }

    List<Caller> callers() {
        return callers;
    }

    @Override
    public void close() throws IOException {
        running = false;
        try {
            if (sender != null) {
                sender.join(1000);
            }
            if (receiver != null) {
                receiver.join(1000);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        for (Caller c : callers) {
            c.channel.close();
        }
        selector.close();
    }
}
