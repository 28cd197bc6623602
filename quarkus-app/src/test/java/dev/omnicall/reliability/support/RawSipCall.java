package dev.omnicall.reliability.support;

import java.io.IOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A minimal SIP caller over UDP written for measurement: it places one PCMU call, keeps sending 20 ms RTP
 * packets of near-silence, and records every RTP packet the bridge sends back (arrival time, sequence
 * number, timestamp), so send jitter and loss can be measured at the caller. It also sends raw datagrams
 * (malformed SIP, hostile RTP) and collects the answers. sipp cannot record what it receives, hence this.
 */
public final class RawSipCall implements AutoCloseable {

    /** One RTP packet from the bridge. */
    public record Received(long arrivedNanos, int seq, long timestamp, int payloadType, int payloadBytes) {}

    private final InetAddress loopback = InetAddress.getLoopbackAddress();
    private final int bridgeSipPort;
    private final DatagramSocket sip;
    private final DatagramSocket rtp;
    private final String callId = UUID.randomUUID() + "@127.0.0.1";
    private final String fromTag = Long.toHexString(System.nanoTime());
    private final List<Received> received = new CopyOnWriteArrayList<>();
    private String toHeader;
    private int bridgeRtpPort;
    private volatile boolean running = true;
    private Thread sender;
    private Thread receiver;

    public RawSipCall(int bridgeSipPort) throws IOException {
        this.bridgeSipPort = bridgeSipPort;
        this.sip = new DatagramSocket(new InetSocketAddress(loopback, 0));
        this.rtp = new DatagramSocket(new InetSocketAddress(loopback, 0));
    }

    public int rtpPort() {
        return rtp.getLocalPort();
    }

    public int bridgeRtpPort() {
        return bridgeRtpPort;
    }

    public DatagramSocket rtpSocket() {
        return rtp;
    }

    /** INVITE → 200 → ACK, then RTP both ways. Returns the final status code. */
    public int call() throws IOException {
        String sdp = "v=0\r\no=raw 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                + "m=audio " + rtp.getLocalPort() + " RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\n";
        send(request("INVITE", 1, null, "application/sdp", sdp));
        String response = finalResponse(sip, 10_000);
        int status = status(response);
        if (status != 200) {
            return status;
        }
        toHeader = header(response, "To");
        String body = response.substring(response.indexOf("\r\n\r\n") + 4);
        for (String line : body.split("\r\n")) {
            if (line.startsWith("m=audio ")) {
                bridgeRtpPort = Integer.parseInt(line.split(" ")[1]);
            }
        }
        send(request("ACK", 1, toHeader, null, ""));
        startMedia();
        return status;
    }

    /** BYE → 200; returns the status. */
    public int hangUp() throws IOException {
        running = false;
        send(request("BYE", 2, toHeader, null, ""));
        return status(finalResponse(sip, 10_000));
    }

    public List<Received> received() {
        return List.copyOf(received);
    }

    private void startMedia() {
        sender = new Thread(() -> {
            byte[] packet = new byte[12 + 160];
            Arrays.fill(packet, 12, packet.length, (byte) 0xFF);   // μ-law near-silence
            int seq = 1;
            long ts = 0;
            long next = System.nanoTime();
            while (running) {
                ByteBuffer.wrap(packet).put((byte) 0x80).put((byte) 0).putShort((short) seq++).putInt((int) ts).putInt(0x1234);
                ts += 160;
                try {
                    rtp.send(new DatagramPacket(packet, packet.length, loopback, bridgeRtpPort));
                } catch (IOException e) {
                    return;
                }
                next += 20_000_000L;
                long sleep = next - System.nanoTime();
                if (sleep > 0) {
                    Waits.sleep(sleep / 1_000_000);
                }
            }
        }, "raw-call-rtp-tx");
        receiver = new Thread(() -> {
            byte[] buf = new byte[2048];
            try {
                rtp.setSoTimeout(200);
            } catch (IOException e) {
                return;
            }
            while (running) {
                DatagramPacket p = new DatagramPacket(buf, buf.length);
                try {
                    rtp.receive(p);
                } catch (SocketTimeoutException e) {
                    continue;
                } catch (IOException e) {
                    return;
                }
                if (p.getLength() >= 12) {
                    ByteBuffer b = ByteBuffer.wrap(buf, 0, p.getLength());
                    b.get();
                    int pt = b.get() & 0x7f;
                    int seq = b.getShort() & 0xffff;
                    long ts = b.getInt() & 0xffffffffL;
                    received.add(new Received(System.nanoTime(), seq, ts, pt, p.getLength() - 12));
                }
            }
        }, "raw-call-rtp-rx");
        sender.setDaemon(true);
        receiver.setDaemon(true);
        sender.start();
        receiver.start();
    }

    private String request(String method, int cseq, String to, String contentType, String body) {
        String uri = "sip:bot@127.0.0.1:" + bridgeSipPort;
        String branch = "z9hG4bK" + Long.toHexString(System.nanoTime());
        StringBuilder sb = new StringBuilder()
                .append(method).append(' ').append(uri).append(" SIP/2.0\r\n")
                .append("Via: SIP/2.0/UDP 127.0.0.1:").append(sip.getLocalPort()).append(";branch=").append(branch).append("\r\n")
                .append("From: <sip:raw@127.0.0.1>;tag=").append(fromTag).append("\r\n")
                .append("To: ").append(to == null ? "<" + uri + ">" : to).append("\r\n")
                .append("Call-ID: ").append(callId).append("\r\n")
                .append("CSeq: ").append(cseq).append(' ').append(method).append("\r\n")
                .append("Contact: <sip:raw@127.0.0.1:").append(sip.getLocalPort()).append(">\r\n")
                .append("Max-Forwards: 70\r\n");
        if (contentType != null) {
            sb.append("Content-Type: ").append(contentType).append("\r\n");
        }
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        return sb.append("Content-Length: ").append(b.length).append("\r\n\r\n").append(body).toString();
    }

    private void send(String message) throws IOException {
        byte[] b = message.getBytes(StandardCharsets.UTF_8);
        sip.send(new DatagramPacket(b, b.length, loopback, bridgeSipPort));
    }

    // ---- one-off datagrams --------------------------------------------------------------------------------

    /**
     * Sends the datagram made for a fresh socket's port (responses go to the Via's port) to the bridge's SIP
     * port and returns the status codes of the answers that arrive within {@code waitMs} (none for a message
     * the stack drops).
     */
    public static List<Integer> probe(int bridgeSipPort, java.util.function.IntFunction<byte[]> datagramFor, long waitMs)
            throws IOException {
        return probe(bridgeSipPort, datagramFor, waitMs, false);
    }

    /**
     * Like {@link #probe}, but returns as soon as a final response (200 and up) came, waiting at most {@code maxWaitMs}:
     * for a request that must be answered, on a box busy enough that an answer can take seconds.
     */
    public static List<Integer> probeUntilFinal(int bridgeSipPort, java.util.function.IntFunction<byte[]> datagramFor,
                                                long maxWaitMs) throws IOException {
        return probe(bridgeSipPort, datagramFor, maxWaitMs, true);
    }

    private static List<Integer> probe(int bridgeSipPort, java.util.function.IntFunction<byte[]> datagramFor, long waitMs,
                                       boolean untilFinal) throws IOException {
        List<Integer> codes = new ArrayList<>();
        try (DatagramSocket s = new DatagramSocket(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))) {
            byte[] datagram = datagramFor.apply(s.getLocalPort());
            s.send(new DatagramPacket(datagram, datagram.length, InetAddress.getLoopbackAddress(), bridgeSipPort));
            long deadline = System.nanoTime() + waitMs * 1_000_000;
            byte[] buf = new byte[65535];
            while (System.nanoTime() < deadline) {
                s.setSoTimeout((int) Math.max(1, (deadline - System.nanoTime()) / 1_000_000));
                DatagramPacket p = new DatagramPacket(buf, buf.length);
                try {
                    s.receive(p);
                } catch (SocketTimeoutException e) {
                    break;
                }
                int code = status(new String(buf, 0, p.getLength(), StandardCharsets.UTF_8));
                codes.add(code);
                if (untilFinal && code >= 200) {
                    break;
                }
            }
        }
        return codes;
    }

    /** An INVITE from 127.0.0.1:{@code localPort} with the given body. */
    public static String invite(int bridgeSipPort, int localPort, String contentType, String body) {
        String uri = "sip:bot@127.0.0.1:" + bridgeSipPort;
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        return "INVITE " + uri + " SIP/2.0\r\n"
                + "Via: SIP/2.0/UDP 127.0.0.1:" + localPort + ";branch=z9hG4bK" + Long.toHexString(System.nanoTime()) + "\r\n"
                + "From: <sip:abuse@127.0.0.1>;tag=" + Long.toHexString(System.nanoTime()) + "\r\n"
                + "To: <" + uri + ">\r\n"
                + "Call-ID: " + UUID.randomUUID() + "@127.0.0.1\r\n"
                + "CSeq: 1 INVITE\r\nContact: <sip:abuse@127.0.0.1:" + localPort + ">\r\nMax-Forwards: 70\r\n"
                + "Content-Type: " + contentType + "\r\nContent-Length: " + b.length + "\r\n\r\n" + body;
    }

    private static String finalResponse(DatagramSocket s, int timeoutMs) throws IOException {
        byte[] buf = new byte[65535];
        long deadline = System.nanoTime() + timeoutMs * 1_000_000L;
        while (System.nanoTime() < deadline) {
            s.setSoTimeout((int) Math.max(1, (deadline - System.nanoTime()) / 1_000_000));
            DatagramPacket p = new DatagramPacket(buf, buf.length);
            s.receive(p);
            String msg = new String(buf, 0, p.getLength(), StandardCharsets.UTF_8);
            if (msg.startsWith("SIP/2.0 ") && status(msg) >= 200) {
                return msg;
            }
        }
        throw new SocketTimeoutException("no final response within " + timeoutMs + " ms");
    }

    private static int status(String msg) {
        return msg.startsWith("SIP/2.0 ") ? Integer.parseInt(msg.substring(8, 11)) : -1;
    }

    private static String header(String msg, String name) {
        for (String line : msg.split("\r\n")) {
            if (line.regionMatches(true, 0, name + ":", 0, name.length() + 1)) {
                return line.substring(name.length() + 1).trim();
            }
        }
        throw new IllegalStateException("no " + name + " header in " + msg);
    }

    @Override
    public void close() {
        running = false;
        sip.close();
        rtp.close();
    }
}
