package dev.omnicall.bridge.sip;

import dev.omnicall.bridge.sdp.AudioCodec;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The SIP user agent's settings.
 *
 * @param bindAddress              local address to listen on ("0.0.0.0" for all, "127.0.0.1" in tests)
 * @param port                     SIP port, UDP and (when {@code tcp}) TCP; 5060 by default
 * @param tcp                      also listen on TCP at the same port
 * @param advertisedAddress        the address written into Contact and SDP c=/o=; must be reachable by callers
 * @param maxCalls                 live calls (ringing or answered) above which new INVITEs get 503
 * @param ringDelay                time between 180 Ringing and 200 OK (zero answers at once)
 * @param allowedSources           CIDR blocks allowed to INVITE; empty allows every source
 * @param invitesPerSecondPerSource token-bucket refill rate per source address
 * @param inviteBurstPerSource     token-bucket size per source address
 * @param authRealm                digest realm, or null for no authentication
 * @param authUsers                user name → password for digest auth (empty without auth)
 * @param codecs                   the G.711 codecs to accept, in our order of preference
 */
public record SipConfig(String bindAddress, int port, boolean tcp, String advertisedAddress, int maxCalls,
                        Duration ringDelay, List<String> allowedSources, double invitesPerSecondPerSource,
                        int inviteBurstPerSource, String authRealm, Map<String, String> authUsers,
                        List<AudioCodec> codecs) {

    public SipConfig {
        Objects.requireNonNull(bindAddress, "bindAddress");
        Objects.requireNonNull(advertisedAddress, "advertisedAddress");
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("SIP port must be 1..65535, got " + port);
        }
        if (maxCalls < 1) {
            throw new IllegalArgumentException("maxCalls must be >= 1, got " + maxCalls);
        }
        if (ringDelay == null || ringDelay.isNegative()) {
            throw new IllegalArgumentException("ringDelay must be zero or positive, got " + ringDelay);
        }
        if (invitesPerSecondPerSource <= 0 || inviteBurstPerSource < 1) {
            throw new IllegalArgumentException("INVITE rate limit must be > 0/s with burst >= 1, got "
                    + invitesPerSecondPerSource + "/s burst " + inviteBurstPerSource);
        }
        allowedSources = List.copyOf(allowedSources == null ? List.of() : allowedSources);
        authUsers = Map.copyOf(authUsers == null ? Map.of() : authUsers);
        if (authRealm != null && authUsers.isEmpty()) {
            throw new IllegalArgumentException("authRealm '" + authRealm + "' is set but no auth users are configured");
        }
        codecs = List.copyOf(codecs == null || codecs.isEmpty() ? List.of(AudioCodec.PCMU, AudioCodec.PCMA) : codecs);
    }

    /** Defaults for a bridge on one host: UDP+TCP, 100 calls, 5 INVITEs/s per source (burst 20), no auth. */
    public static SipConfig defaults(String bindAddress, int port, String advertisedAddress) {
        return new SipConfig(bindAddress, port, true, advertisedAddress, 100, Duration.ZERO, List.of(), 5, 20, null,
                Map.of(), List.of(AudioCodec.PCMU, AudioCodec.PCMA));
    }

    public boolean authEnabled() {
        return authRealm != null;
    }

    public SipConfig withMaxCalls(int n) {
        return new SipConfig(bindAddress, port, tcp, advertisedAddress, n, ringDelay, allowedSources,
                invitesPerSecondPerSource, inviteBurstPerSource, authRealm, authUsers, codecs);
    }

    public SipConfig withRingDelay(Duration d) {
        return new SipConfig(bindAddress, port, tcp, advertisedAddress, maxCalls, d, allowedSources,
                invitesPerSecondPerSource, inviteBurstPerSource, authRealm, authUsers, codecs);
    }

    public SipConfig withAllowedSources(List<String> cidrs) {
        return new SipConfig(bindAddress, port, tcp, advertisedAddress, maxCalls, ringDelay, cidrs,
                invitesPerSecondPerSource, inviteBurstPerSource, authRealm, authUsers, codecs);
    }

    public SipConfig withRateLimit(double perSecond, int burst) {
        return new SipConfig(bindAddress, port, tcp, advertisedAddress, maxCalls, ringDelay, allowedSources,
                perSecond, burst, authRealm, authUsers, codecs);
    }

    public SipConfig withAuth(String realm, Map<String, String> users) {
        return new SipConfig(bindAddress, port, tcp, advertisedAddress, maxCalls, ringDelay, allowedSources,
                invitesPerSecondPerSource, inviteBurstPerSource, realm, users, codecs);
    }

    public SipConfig withCodecs(List<AudioCodec> accepted) {
        return new SipConfig(bindAddress, port, tcp, advertisedAddress, maxCalls, ringDelay, allowedSources,
                invitesPerSecondPerSource, inviteBurstPerSource, authRealm, authUsers, accepted);
    }

    public SipConfig withPort(int p) {
        return new SipConfig(bindAddress, p, tcp, advertisedAddress, maxCalls, ringDelay, allowedSources,
                invitesPerSecondPerSource, inviteBurstPerSource, authRealm, authUsers, codecs);
    }
}
