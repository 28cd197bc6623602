package dev.omnicall.app.roles;

import dev.omnicall.app.config.OmniCallConfig;
import dev.omnicall.app.config.Role;
import dev.omnicall.bridge.BridgeConfig;
import dev.omnicall.bridge.BridgeMetrics;
import dev.omnicall.bridge.BridgeServer;
import dev.omnicall.bridge.OverloadConfig;
import dev.omnicall.bridge.media.AdaptiveEndOfTurn;
import dev.omnicall.bridge.media.MediaConfig;
import dev.omnicall.bridge.media.MicrometerMediaMetrics;
import dev.omnicall.bridge.media.SegmenterConfig;
import dev.omnicall.bridge.sip.SipConfig;
import dev.omnicall.bridge.vad.VadFactory;
import dev.omnicall.kafka.TurnTrace;
import io.micrometer.core.instrument.Gauge;
import org.jboss.logging.Logger;

import java.io.IOException;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The bridge role: {@code telephony-bridge/}'s {@link BridgeServer} (SIP user agent, RTP media, VAD, the
 * Kafka producer of caller audio and call events, the consumer of this bridge's reply audio), configured
 * from {@code omnicall.sip.*}, {@code omnicall.rtp.*}, {@code omnicall.vad.*} and {@code omnicall.bridge.*}.
 */
public final class BridgeRoleService implements RoleService {

    private static final Logger LOG = Logger.getLogger(BridgeRoleService.class);

    private volatile BridgeServer server;
    private volatile VadFactory vads;
    private volatile String sipUri;
    private volatile String authHint = "";
    private volatile boolean closing;
    private final TurnTrace trace;

    public BridgeRoleService() {
        this(TurnTrace.RELAY);
    }

    /** @param trace what the bridge does with a turn's trace context (dev.omnicall.app.trace) */
    public BridgeRoleService(TurnTrace trace) {
        this.trace = trace;
    }

    @Override
    public Role role() {
        return Role.BRIDGE;
    }

    /** The bridge's settings from the app's; the library's defaults for what the catalogue does not list. */
    static BridgeConfig bridgeConfig(RoleContext context, VadFactory vads, int sipPort) {
        OmniCallConfig c = context.config();
        OmniCallConfig.Sip s = c.sip();
        String advertised = c.rtp().advertisedAddress().orElse(wildcard(s.host()) ? "127.0.0.1" : s.host());
        boolean tcp = s.transports().stream().anyMatch(t -> t.trim().toLowerCase(Locale.ROOT).equals("tcp"));
        double rate = s.inviteRatePerSource();
        SipConfig sip = SipConfig.defaults(s.host(), sipPort, advertised)
                .withMaxCalls(s.maxCalls())
                .withAllowedSources(s.allow())
                .withRateLimit(rate, (int) Math.max(1, Math.ceil(rate * 4)));
        if (!tcp) {
            sip = new SipConfig(sip.bindAddress(), sip.port(), false, sip.advertisedAddress(), sip.maxCalls(),
                    sip.ringDelay(), sip.allowedSources(), sip.invitesPerSecondPerSource(), sip.inviteBurstPerSource(),
                    sip.authRealm(), sip.authUsers(), sip.codecs());
        }
        if (s.auth().username().isPresent()) {
            sip = sip.withAuth(s.auth().realm(), Map.of(s.auth().username().get(), s.auth().password().orElseThrow()));
        }
        OmniCallConfig.Vad v = c.vad();
        float start = (float) v.threshold();
        float end = (float) Math.max(0.05, start - 0.15); // hysteresis as in the library's 0.5 / 0.35 default
        SegmenterConfig d = SegmenterConfig.defaults();
        int speculative = v.speculativeSilenceMs();
        AdaptiveEndOfTurn adaptive = v.adaptiveEndSilence()
                ? AdaptiveEndOfTurn.between(v.endSilenceMinMs(), v.endSilenceMaxMs()) : AdaptiveEndOfTurn.OFF;
        int shortestEnd = adaptive.enabled() ? adaptive.minSilenceMs() : v.endSilenceMs();
        if (speculative >= shortestEnd) {
            LOG.warnf("omnicall.vad.speculative-silence-ms=%d is not below omnicall.vad.%s=%d: speculative"
                    + " turns are off", speculative, adaptive.enabled() ? "end-silence-min-ms" : "end-silence-ms",
                    shortestEnd);
            speculative = 0;
        }
        SegmenterConfig segmenter = new SegmenterConfig(v.segmentMs(), d.preRollMs(), v.endSilenceMs(), start,
                Math.min(end, start), d.minSpeechMs(), d.maxUtteranceMs(), speculative, adaptive);
        MediaConfig media = MediaConfig.defaults(vads).withSegmenter(segmenter)
                .withMetrics(new MicrometerMediaMetrics(context.registry()));
        return new BridgeConfig(c.instanceId(), c.bridge().index(), c.bridge().count(), sip, s.host(),
                c.rtp().portMin(), c.rtp().portMax(), media, Duration.ofSeconds(30), context.kafka(), context.serde(),
                c.bridge().orphanLookback()).withOverload(overloadConfig(c.bridge().overload()));
    }

    /** {@code omnicall.bridge.overload.*} as the bridge's {@link OverloadConfig} ({@link OverloadConfig#OFF} when off). */
    public static OverloadConfig overloadConfig(OmniCallConfig.Bridge.Overload o) {
        if (!o.enabled()) {
            return OverloadConfig.OFF;
        }
        return new OverloadConfig(true, o.refuseLatenessP99Ms(), o.refuseCpuPct(), o.resumeLatenessP99Ms(),
                o.resumeCpuPct(), o.sampleInterval(), o.resumeAfterSamples(), o.retryAfterSeconds())
                .withRefuseAfterSamples(o.refuseAfterSamples())
                .withReceiveLag(o.refuseReceiveLagMs(), o.resumeReceiveLagMs());
    }

    @Override
    public void start(RoleContext context) {
        OmniCallConfig c = context.config();
        vads = c.vad().kind().trim().equalsIgnoreCase("energy") ? VadFactory.energyOnly()
                : VadFactory.create(c.vad().sileroModel().or(VadFactory::locateModel));
        int port = c.sip().port() == 0 ? freeSipPort(c.sip().host()) : c.sip().port();
        BridgeConfig config = bridgeConfig(context, vads, port);
        BridgeServer s = new BridgeServer(config, new BridgeMetrics(context.registry()), trace);
        Gauge.builder("omnicall.bridge.calls.live", s, b -> b.liveCalls().size())
                .description("calls held by this bridge now").register(context.registry());
        new LiveMediaGauges(s::liveCallStats).register(context.registry());
        server = s;
        s.start();
        sipUri = "sip:omnicall@" + config.sip().advertisedAddress() + ":" + config.sip().port();
        authHint = c.sip().auth().username().map(u -> " --user " + u + " --password '<omnicall.sip.auth.password>'").orElse("");
        LOG.infof("[bridge] SIP %s (%s), RTP %d-%d, VAD %s", sipUri, config.sip().tcp() ? "UDP+TCP" : "UDP",
                config.rtpPortMin(), config.rtpPortMax(),
                vads.usesSilero() ? "Silero" : "energy (" + vads.fallbackReason().orElse("") + ")");
    }

    /** The URI callers dial; empty before the bridge is up. */
    /** The running bridge, or null before start. */
    public BridgeServer server() {
        return server;
    }

    public String sipUri() {
        return sipUri;
    }

    @Override
    public List<String> bannerLines() {
        return sipUri == null ? List.of() : List.of("Call:       " + sipUri + "   (G.711 PCMU/PCMA)",
                "Test call:  bin/call --to " + sipUri + authHint + " --say \"What time do you open on Saturday?\" --out reply.wav");
    }

    @Override
    public RoleStatus status() {
        BridgeServer s = server;
        if (closing) {
            return RoleStatus.of(RoleStatus.State.STOPPED, "stopped");
        }
        if (s == null || sipUri == null) {
            return RoleStatus.of(RoleStatus.State.STARTING, "opening Kafka clients and the SIP port");
        }
        return RoleStatus.of(RoleStatus.State.RUNNING, sipUri + ", " + s.liveCalls().size() + " live calls, partitions "
                + s.ownedPartitions());
    }

    @Override
    public void close() {
        closing = true;
        BridgeServer s = server;
        if (s != null) {
            s.stop();
        }
        VadFactory v = vads;
        if (v != null) {
            v.close();
        }
    }

    private static boolean wildcard(String host) {
        return host.equals("0.0.0.0") || host.equals("::") || host.equals("[::]");
    }

    /** omnicall.sip.port=0 (tests): a port free for both UDP and TCP. */
    static int freeSipPort(String host) {
        for (int i = 0; i < 50; i++) {
            try (ServerSocket tcp = new ServerSocket()) {
                tcp.bind(new InetSocketAddress(InetAddress.getByName(host), 0));
                int port = tcp.getLocalPort();
                try (DatagramSocket udp = new DatagramSocket(new InetSocketAddress(InetAddress.getByName(host), port))) {
                    return port;
                } catch (IOException taken) {
                    // UDP side in use: try another
                }
            } catch (IOException e) {
                throw new IllegalStateException("cannot find a free SIP port on " + host + ": " + e.getMessage(), e);
            }
        }
        throw new IllegalStateException("no port free for both UDP and TCP on " + host + " after 50 tries");
    }
}
