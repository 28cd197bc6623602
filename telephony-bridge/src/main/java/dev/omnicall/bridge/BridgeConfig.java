package dev.omnicall.bridge;

import dev.omnicall.bridge.media.MediaConfig;
import dev.omnicall.bridge.sip.SipConfig;
import dev.omnicall.kafka.KafkaSettings;
import dev.omnicall.kafka.SerdeConfig;

import java.time.Duration;
import java.util.Objects;

/**
 * Everything one bridge instance needs.
 *
 * @param bridgeId     names this instance in CallEvents and client ids (e.g. the pod name)
 * @param bridgeIndex  this instance's slot, 0..bridgeCount-1 (a StatefulSet ordinal); it owns the
 *                     response-audio partitions p with p % bridgeCount == bridgeIndex
 * @param bridgeCount  how many bridge instances share the topics; at most the partition count
 * @param sip          the SIP user agent's settings
 * @param rtpBindAddress local address for RTP sockets
 * @param rtpPortMin   first port of the RTP range (even)
 * @param rtpPortMax   last port of the RTP range
 * @param media        the media engineer's per-bridge settings (VAD, segmenter, barge-in, pacing)
 * @param rtpTimeout   a call with no RTP from the caller this long (and not on hold) is ended with RTP_TIMEOUT
 * @param kafka        client settings (producers are acks=all, idempotent)
 * @param serde        value serde choice (embedded catalog by default)
 * @param orphanLookback how far back the start-up orphan sweep reads call-events for calls a crashed previous
 *                     run of this bridge left live (see {@code OrphanSweep}); zero turns the sweep off
 * @param overload     when new calls are refused with 503 because live calls would degrade ({@link OverloadGuard})
 */
public record BridgeConfig(String bridgeId, int bridgeIndex, int bridgeCount, SipConfig sip, String rtpBindAddress,
                           int rtpPortMin, int rtpPortMax, MediaConfig media, Duration rtpTimeout,
                           KafkaSettings kafka, SerdeConfig serde, Duration orphanLookback, OverloadConfig overload) {

    /** Without the overload guard ({@link OverloadConfig#OFF}), as before it existed. */
    public BridgeConfig(String bridgeId, int bridgeIndex, int bridgeCount, SipConfig sip, String rtpBindAddress,
                        int rtpPortMin, int rtpPortMax, MediaConfig media, Duration rtpTimeout, KafkaSettings kafka,
                        SerdeConfig serde, Duration orphanLookback) {
        this(bridgeId, bridgeIndex, bridgeCount, sip, rtpBindAddress, rtpPortMin, rtpPortMax, media, rtpTimeout, kafka,
                serde, orphanLookback, OverloadConfig.OFF);
    }

    /** The default look-back of the orphan sweep: longer than nearly every call; the read is that window's call-events. */
    public static final Duration DEFAULT_ORPHAN_LOOKBACK = Duration.ofHours(4);

    public BridgeConfig {
        Objects.requireNonNull(bridgeId, "bridgeId");
        Objects.requireNonNull(sip, "sip");
        Objects.requireNonNull(media, "media");
        Objects.requireNonNull(kafka, "kafka");
        Objects.requireNonNull(serde, "serde");
        Objects.requireNonNull(overload, "overload (OverloadConfig.OFF: no guard)");
        Objects.requireNonNull(rtpBindAddress, "rtpBindAddress");
        if (bridgeId.isBlank() || !bridgeId.matches("[A-Za-z0-9._-]+")) {
            throw new IllegalArgumentException("bridgeId '" + bridgeId + "' must be letters, digits, '.', '_' or '-'");
        }
        if (bridgeCount < 1 || bridgeIndex < 0 || bridgeIndex >= bridgeCount) {
            throw new IllegalArgumentException("bridgeIndex must be in 0.." + (bridgeCount - 1) + ", got " + bridgeIndex);
        }
        if (rtpPortMin < 1024 || rtpPortMax > 65535 || rtpPortMax <= rtpPortMin) {
            throw new IllegalArgumentException("RTP port range " + rtpPortMin + ".." + rtpPortMax
                    + " must lie within 1024..65535 and hold at least two ports");
        }
        if (rtpTimeout == null || rtpTimeout.toMillis() < 200) {
            throw new IllegalArgumentException("rtpTimeout must be at least 200 ms, got " + rtpTimeout);
        }
        if (orphanLookback == null || orphanLookback.isNegative()) {
            throw new IllegalArgumentException("orphanLookback must be zero (sweep off) or positive, got " + orphanLookback);
        }
    }

    /** One bridge, RTP on 20000-29999, 30 s RTP timeout, the default orphan look-back. */
    public static BridgeConfig single(String bridgeId, SipConfig sip, MediaConfig media, KafkaSettings kafka,
                                      SerdeConfig serde) {
        return new BridgeConfig(bridgeId, 0, 1, sip, sip.bindAddress(), 20000, 29999, media, Duration.ofSeconds(30),
                kafka, serde, DEFAULT_ORPHAN_LOOKBACK);
    }

    public BridgeConfig withRtpTimeout(Duration d) {
        return new BridgeConfig(bridgeId, bridgeIndex, bridgeCount, sip, rtpBindAddress, rtpPortMin, rtpPortMax, media,
                d, kafka, serde, orphanLookback, overload);
    }

    public BridgeConfig withRtpPorts(int min, int max) {
        return new BridgeConfig(bridgeId, bridgeIndex, bridgeCount, sip, rtpBindAddress, min, max, media, rtpTimeout,
                kafka, serde, orphanLookback, overload);
    }

    public BridgeConfig withSip(SipConfig s) {
        return new BridgeConfig(bridgeId, bridgeIndex, bridgeCount, s, rtpBindAddress, rtpPortMin, rtpPortMax, media,
                rtpTimeout, kafka, serde, orphanLookback, overload);
    }

    public BridgeConfig withMedia(MediaConfig m) {
        return new BridgeConfig(bridgeId, bridgeIndex, bridgeCount, sip, rtpBindAddress, rtpPortMin, rtpPortMax, m,
                rtpTimeout, kafka, serde, orphanLookback, overload);
    }

    public BridgeConfig withOverload(OverloadConfig o) {
        return new BridgeConfig(bridgeId, bridgeIndex, bridgeCount, sip, rtpBindAddress, rtpPortMin, rtpPortMax, media,
                rtpTimeout, kafka, serde, orphanLookback, o);
    }

    public BridgeConfig withOrphanLookback(Duration d) {
        return new BridgeConfig(bridgeId, bridgeIndex, bridgeCount, sip, rtpBindAddress, rtpPortMin, rtpPortMax, media,
                rtpTimeout, kafka, serde, d, overload);
    }
}
