package dev.omnicall.bridge.media;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketException;
import java.net.StandardSocketOptions;
import java.nio.channels.DatagramChannel;

/**
 * Binds RTP sockets on even ports of a configured range (RFC 3550 §11: RTP even, RTCP the odd one
 * above). Ports are tried round-robin from where the last search stopped, so a port just released is
 * not reused at once (late packets of the old call would land in the new one). Thread-safe.
 */
public final class RtpPortAllocator {
    private final InetAddress bindAddress;
    private final int minPort;
    private final int maxPort;
    private int cursor;

    /**
     * @param bindAddress local address to bind (0.0.0.0 for all)
     * @param minPort     first port of the range (rounded up to even)
     * @param maxPort     last port of the range
     */
    public RtpPortAllocator(InetAddress bindAddress, int minPort, int maxPort) {
        int first = minPort + (minPort & 1);
        if (first < 1024 || maxPort > 65535 || first > maxPort) {
            throw new IllegalArgumentException("RTP port range " + minPort + ".." + maxPort
                    + " must hold an even port within 1024..65535");
        }
        this.bindAddress = bindAddress;
        this.minPort = first;
        this.maxPort = maxPort;
        this.cursor = first;
    }

    /**
     * Binds the next free even port; fails when every port of the range is taken. The channel is in blocking mode
     * as opened; the media session makes it non-blocking for the receive threads' selectors.
     */
    public synchronized DatagramChannel allocate() throws IOException {
        int ports = (maxPort - minPort) / 2 + 1;
        for (int i = 0; i < ports; i++) {
            int port = cursor;
            cursor = cursor + 2 > maxPort ? minPort : cursor + 2;
            DatagramChannel channel = DatagramChannel.open();
            try {
                channel.setOption(StandardSocketOptions.SO_REUSEADDR, false);
                channel.bind(new InetSocketAddress(bindAddress, port));
                return channel;
            } catch (SocketException taken) {
                channel.close();
            }
        }
        throw new IOException("no free even RTP port in " + minPort + ".." + maxPort + " on " + bindAddress);
    }

    public InetAddress bindAddress() {
        return bindAddress;
    }
}
