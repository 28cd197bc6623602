package dev.omnicall.bridge.media;

import dev.omnicall.bridge.rtp.JitterBuffer;
import dev.omnicall.bridge.vad.VadFactory;
import java.util.function.LongSupplier;

/**
 * Settings shared by the calls of a bridge (the per-call codec, ptime and remote address are arguments
 * of {@link MediaSession#open}).
 *
 * @param segmenter                 utterance and segment lengths, VAD thresholds
 * @param bargeInMinSpeechMs        caller speech over playback needed to stop it
 * @param jitterDepthPackets        packets held behind a gap before it is concealed
 * @param concealment               how a lost packet is filled
 * @param latchRemote               accept the first packet from any address and send there (NAT);
 *                                  otherwise only the negotiated address:port is accepted
 * @param telephoneEventPayloadType the RFC 4733 payload type negotiated in SDP (usually 101), -1 for none
 * @param playoutPrebufferMs        reply audio queued before a turn starts playing
 * @param playoutMaxQueuedMs        bound on queued reply audio per call
 * @param playoutMaxStallMs         a playing attempt silent this long without its final chunk is ended
 * @param vadFactory                makes the per-call VAD (Silero, or the energy fallback)
 * @param pacer                     the clock that sends RTP
 * @param receivers                 the threads that receive RTP (a fixed few for all calls)
 * @param metrics                   the bridge's media counters
 * @param epochMicros               wall clock for event timestamps
 */
public record MediaConfig(
        SegmenterConfig segmenter,
        int bargeInMinSpeechMs,
        int jitterDepthPackets,
        JitterBuffer.Concealment concealment,
        boolean latchRemote,
        int telephoneEventPayloadType,
        int playoutPrebufferMs,
        int playoutMaxQueuedMs,
        int playoutMaxStallMs,
        VadFactory vadFactory,
        RtpPacer pacer,
        RtpReceivers receivers,
        MediaMetrics metrics,
        LongSupplier epochMicros) {

    public MediaConfig {
        if (jitterDepthPackets < 1 || jitterDepthPackets > 64) {
            throw new IllegalArgumentException("jitterDepthPackets " + jitterDepthPackets + " is outside 1..64");
        }
        if (telephoneEventPayloadType < -1 || telephoneEventPayloadType > 127) {
            throw new IllegalArgumentException("telephone-event payload type " + telephoneEventPayloadType
                    + " is outside 0..127 (or -1 for none)");
        }
        if (playoutPrebufferMs < 0 || playoutMaxQueuedMs < 1000 || playoutMaxStallMs < 100) {
            throw new IllegalArgumentException("need playoutPrebufferMs >= 0, playoutMaxQueuedMs >= 1000,"
                    + " playoutMaxStallMs >= 100");
        }
    }

    /** Defaults: 160 ms segments, 600 ms end-of-utterance silence, 192 ms barge-in, 3-packet jitter buffer. */
    public static MediaConfig defaults(VadFactory vadFactory) {
        return new MediaConfig(SegmenterConfig.defaults(), 192, 3, JitterBuffer.Concealment.REPEAT, false, 101, 40,
                120_000, 3_000, vadFactory, RtpPacer.shared(), RtpReceivers.shared(), MediaMetrics.NOOP, EpochClock::nowMicros);
    }

    public MediaConfig withSegmenter(SegmenterConfig s) {
        return new MediaConfig(s, bargeInMinSpeechMs, jitterDepthPackets, concealment, latchRemote,
                telephoneEventPayloadType, playoutPrebufferMs, playoutMaxQueuedMs, playoutMaxStallMs, vadFactory, pacer,
                receivers, metrics, epochMicros);
    }

    public MediaConfig withLatchRemote(boolean latch) {
        return new MediaConfig(segmenter, bargeInMinSpeechMs, jitterDepthPackets, concealment, latch,
                telephoneEventPayloadType, playoutPrebufferMs, playoutMaxQueuedMs, playoutMaxStallMs, vadFactory, pacer,
                receivers, metrics, epochMicros);
    }

    public MediaConfig withTelephoneEventPayloadType(int pt) {
        return new MediaConfig(segmenter, bargeInMinSpeechMs, jitterDepthPackets, concealment, latchRemote, pt,
                playoutPrebufferMs, playoutMaxQueuedMs, playoutMaxStallMs, vadFactory, pacer, receivers, metrics, epochMicros);
    }

    public MediaConfig withMetrics(MediaMetrics m) {
        return new MediaConfig(segmenter, bargeInMinSpeechMs, jitterDepthPackets, concealment, latchRemote,
                telephoneEventPayloadType, playoutPrebufferMs, playoutMaxQueuedMs, playoutMaxStallMs, vadFactory, pacer, receivers, m,
                epochMicros);
    }

    public MediaConfig withPacer(RtpPacer p) {
        return new MediaConfig(segmenter, bargeInMinSpeechMs, jitterDepthPackets, concealment, latchRemote,
                telephoneEventPayloadType, playoutPrebufferMs, playoutMaxQueuedMs, playoutMaxStallMs, vadFactory, p,
                receivers, metrics, epochMicros);
    }

    public MediaConfig withReceivers(RtpReceivers r) {
        return new MediaConfig(segmenter, bargeInMinSpeechMs, jitterDepthPackets, concealment, latchRemote,
                telephoneEventPayloadType, playoutPrebufferMs, playoutMaxQueuedMs, playoutMaxStallMs, vadFactory, pacer,
                r, metrics, epochMicros);
    }

    public MediaConfig withBargeInMinSpeechMs(int ms) {
        return new MediaConfig(segmenter, ms, jitterDepthPackets, concealment, latchRemote, telephoneEventPayloadType,
                playoutPrebufferMs, playoutMaxQueuedMs, playoutMaxStallMs, vadFactory, pacer, receivers, metrics, epochMicros);
    }
}
