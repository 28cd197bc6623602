package dev.omnicall.bridge.sip;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;

/**
 * The sources allowed to send INVITEs, as CIDR blocks ("10.0.0.0/8", "127.0.0.1/32", "::1/128").
 * An empty list allows every source: an allowlist is opt-in.
 */
public final class CidrAllowlist {

    private record Block(byte[] network, int prefixBits, String text) {
        boolean contains(byte[] address) {
            if (address.length != network.length) {
                return false;
            }
            int full = prefixBits / 8;
            for (int i = 0; i < full; i++) {
                if (address[i] != network[i]) {
                    return false;
                }
            }
            int rest = prefixBits % 8;
            if (rest == 0) {
                return true;
            }
            int mask = (0xff << (8 - rest)) & 0xff;
            return (address[full] & mask) == (network[full] & mask);
        }
    }

    private final List<Block> blocks;

    private CidrAllowlist(List<Block> blocks) {
        this.blocks = List.copyOf(blocks);
    }

    /** Parses CIDR strings; a bare address means that one host. Throws with the offending entry named. */
    public static CidrAllowlist parse(List<String> cidrs) {
        List<Block> blocks = new ArrayList<>();
        for (String raw : cidrs) {
            String cidr = raw.trim();
            if (cidr.isEmpty()) {
                continue;
            }
            int slash = cidr.indexOf('/');
            String host = slash < 0 ? cidr : cidr.substring(0, slash);
            if (!host.matches("[0-9a-fA-F.:]+")) {
                // never resolve names: an allowlist entry must be a literal address
                throw new IllegalArgumentException("allowlist entry '" + raw + "' is not an IP literal");
            }
            byte[] network;
            try {
                network = InetAddress.getByName(host).getAddress();
            } catch (UnknownHostException e) {
                throw new IllegalArgumentException("allowlist entry '" + raw + "' is not an IP address", e);
            }
            int bits = network.length * 8;
            int prefix = bits;
            if (slash >= 0) {
                try {
                    prefix = Integer.parseInt(cidr.substring(slash + 1));
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("allowlist entry '" + raw + "' has a bad prefix length", e);
                }
                if (prefix < 0 || prefix > bits) {
                    throw new IllegalArgumentException("allowlist entry '" + raw + "' prefix must be 0.." + bits);
                }
            }
            blocks.add(new Block(network, prefix, cidr));
        }
        return new CidrAllowlist(blocks);
    }

    public static CidrAllowlist allowAll() {
        return new CidrAllowlist(List.of());
    }

    public boolean allows(InetAddress source) {
        if (blocks.isEmpty()) {
            return true;
        }
        byte[] address = source.getAddress();
        for (Block b : blocks) {
            if (b.contains(address)) {
                return true;
            }
        }
        return false;
    }

    @Override
    public String toString() {
        return blocks.isEmpty() ? "any" : blocks.stream().map(Block::text).toList().toString();
    }
}
