package dev.omnicall.bridge.testing;

import java.io.IOException;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.concurrent.ThreadLocalRandom;

/** Ports that are free on 127.0.0.1 for both UDP and TCP right now. */
public final class FreePorts {

    private FreePorts() {
    }

    /** A port free for UDP and TCP. */
    public static int udpAndTcp() {
        for (int attempt = 0; attempt < 200; attempt++) {
            int port = ThreadLocalRandom.current().nextInt(20000, 60000);
            if (freeUdp(port) && freeTcp(port)) {
                return port;
            }
        }
        throw new IllegalStateException("no free UDP+TCP port found on 127.0.0.1");
    }

    /** An even port whose next (odd) port is free too, for RTP + RTCP. */
    public static int rtpPair() {
        for (int attempt = 0; attempt < 200; attempt++) {
            int port = ThreadLocalRandom.current().nextInt(10000, 30000) * 2;
            if (freeUdp(port) && freeUdp(port + 1)) {
                return port;
            }
        }
        throw new IllegalStateException("no free RTP port pair found on 127.0.0.1");
    }

    /** An even port with every even port up to {@code base + span} free too: RTP for several calls. */
    public static int rtpRange(int span) {
        for (int attempt = 0; attempt < 200; attempt++) {
            int base = ThreadLocalRandom.current().nextInt(5000, 15000) * 2;
            boolean free = true;
            for (int port = base; port < base + span && free; port += 2) {
                free = freeUdp(port);
            }
            if (free) {
                return base;
            }
        }
        throw new IllegalStateException("no free range of " + span + " UDP ports on 127.0.0.1");
    }

    private static boolean freeUdp(int port) {
        try (DatagramSocket s = new DatagramSocket(new InetSocketAddress(InetAddress.getLoopbackAddress(), port))) {
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private static boolean freeTcp(int port) {
        try (ServerSocket s = new ServerSocket()) {
            s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
            return true;
        } catch (IOException e) {
            return false;
        }
    }
}
