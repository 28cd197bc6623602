package dev.omnicall.reliability;

import dev.omnicall.bridge.testing.FreePorts;

import dev.omnicall.kafka.Topics;
import dev.omnicall.reliability.support.Events;
import dev.omnicall.reliability.support.Figures;
import dev.omnicall.reliability.support.RawSipCall;
import dev.omnicall.reliability.support.Roles;
import dev.omnicall.reliability.support.SippCaller;
import dev.omnicall.reliability.support.Waits;
import dev.omnicall.reliability.support.Writer;
import dev.omnicall.testbroker.TestBroker;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Bad SIP and RTP against a real bridge while a live call plays a reply: malformed SIP datagrams, SDP with no
 * supported codec, bad SDP, RTP with a wrong payload type, from an unknown source and with a truncated header,
 * then an INVITE flood from sipp (1000 INVITEs at 200/s). The bridge must answer 400/488/503, count what it
 * drops, keep the live call's audio (loss and jitter measured at the caller) and keep its heap bounded.
 */
@Tag("reliability")
@Timeout(300)
class SipRtpAbuseIT extends ReliabilityTest {

    private static final int FLOOD = Integer.getInteger("reliability.flood.invites", 1000);
    private static final int FLOOD_RATE = 200;

    /** RTP quality of the packets that arrived between two instants. */
    /**
     * @param lost    sequence numbers that never arrived
     * @param slipped 20 ms slots the sender skipped (the RTP timestamp advanced with no packet): audio the
     *                caller never heard although nothing was lost on the wire
     */
    record Quality(int packets, long lost, long slipped, double jitterMs, double p99DeviationMs, double maxGapMs) {
        static Quality of(List<RawSipCall.Received> all, long fromNanos, long toNanos) {
            List<RawSipCall.Received> r = all.stream().filter(p -> p.arrivedNanos() >= fromNanos && p.arrivedNanos() < toNanos).toList();
            if (r.size() < 2) {
                return new Quality(r.size(), 0, 0, 0, 0, 0);
            }
            long expected = ((r.get(r.size() - 1).seq() - r.get(0).seq()) & 0xffff) + 1;
            long slots = ((r.get(r.size() - 1).timestamp() - r.get(0).timestamp()) & 0xffffffffL) / 160 + 1;
            double jitter = 0;
            double[] deviation = new double[r.size() - 1];
            double maxGap = 0;
            for (int i = 1; i < r.size(); i++) {
                double arrivalMs = (r.get(i).arrivedNanos() - r.get(i - 1).arrivedNanos()) / 1e6;
                double sentMs = ((r.get(i).timestamp() - r.get(i - 1).timestamp()) & 0xffffffffL) / 8.0;
                double d = Math.abs(arrivalMs - sentMs);
                jitter += (d - jitter) / 16;   // RFC 3550 §6.4.1
                deviation[i - 1] = d;
                maxGap = Math.max(maxGap, arrivalMs);
            }
            Arrays.sort(deviation);
            return new Quality(r.size(), expected - r.size(), slots - expected, jitter, deviation[(int) Math.floor(0.99 * (deviation.length - 1))], maxGap);
        }
    }

    private static long usedHeapAfterGc() {
        for (int i = 0; i < 3; i++) {
            System.gc();
            Waits.sleep(200);
        }
        Runtime rt = Runtime.getRuntime();
        return rt.totalMemory() - rt.freeMemory();
    }

    private static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.ISO_8859_1);
    }

    @Test
    void shouldRefuseBadSipAndRtpAndKeepTheLiveCallsAudioUnderAnInviteFlood() throws Exception {
        // Given a bridge (5 INVITEs/s per source, burst 20, 3 calls at most) with one live call playing a reply
        TestBroker broker = keep(TestBroker.start(tmp.resolve("kafka"), 2));
        Writer w = keep(new Writer(broker.settings(), Roles.SERDE));
        Roles.Bridge bridge = keep(new Roles.Bridge(broker.settings(), "abuse-bridge", FreePorts.udpAndTcp(), 3, 5, 20));
        int port = bridge.sipPort;
        RawSipCall call = keep(new RawSipCall(port));
        assertThat(call.call()).isEqualTo(200);
        String callId = bridge.liveCalls().get(0);
        AtomicBoolean feeding = new AtomicBoolean(true);
        Thread feeder = new Thread(() -> {
            int seq = 0;
            long next = System.nanoTime();
            while (feeding.get()) {
                w.send(Topics.RESPONSE_AUDIO, callId, Events.chunk(callId, 0, 1, seq, Events.utterance(1.0, seq), false));
                seq++;
                if (seq > 2) {   // two seconds queued ahead, then one second per second
                    next += 1_000_000_000L;
                    Waits.sleep(Math.max(0, (next - System.nanoTime()) / 1_000_000));
                } else {
                    next = System.nanoTime();
                }
            }
            w.send(Topics.RESPONSE_AUDIO, callId, Events.chunk(callId, 0, 1, seq, new byte[640], true));
        }, "reply-feeder");
        feeder.setDaemon(true);
        feeder.start();
        Waits.until("reply audio at the caller", java.time.Duration.ofSeconds(30), () -> call.received().size() > 50);
        long baselineFrom = System.nanoTime();
        Waits.sleep(4000);
        long baselineTo = System.nanoTime();
        long heapBefore = usedHeapAfterGc();

        // When malformed SIP arrives (each kind 5 times)
        Map<String, java.util.function.IntFunction<byte[]>> malformed = new LinkedHashMap<>();
        java.util.function.IntFunction<String> good = local -> RawSipCall.invite(port, local, "application/sdp",
                "v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n");
        malformed.put("truncated", local -> ascii(good.apply(local).substring(0, 70)));
        malformed.put("garbage-headers", local -> ascii(good.apply(local).replaceFirst("From: [^\r]*", "From: <<<\u0001\u0002>>>;;;tag=")
                .replaceFirst("CSeq: 1 INVITE", "CSeq: banana INVITE")));
        malformed.put("huge-content-length", local -> ascii(good.apply(local).replaceFirst("Content-Length: \\d+", "Content-Length: 2147483647")));
        byte[] noise = new byte[600];
        new SplittableRandom(3).nextBytes(noise);
        malformed.put("binary-noise", local -> noise);
        malformed.put("hostile-via", local -> ascii(good.apply(local).replaceFirst("Via: [^\r]*", "Via: SIP/2.0/UDP h (c\\\\")));
        double malformedBefore = malformedTotal(bridge);
        Map<String, List<Integer>> answers = new LinkedHashMap<>();
        for (var e : malformed.entrySet()) {
            List<Integer> codes = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
                codes.addAll(RawSipCall.probe(port, e.getValue(), 300));
            }
            answers.put(e.getKey(), codes);
        }
        double malformedCounted = malformedTotal(bridge) - malformedBefore;
        // And INVITEs whose SDP offers no supported codec, or is not SDP at all (3 times each)
        List<Integer> noCodec = new ArrayList<>();
        List<Integer> badSdp = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            noCodec.addAll(RawSipCall.probe(port, local -> ascii(RawSipCall.invite(port, local, "application/sdp",
                    "v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 9\r\na=rtpmap:9 G722/8000\r\n")), 1000)
                    .stream().filter(c -> c >= 200).toList());
            badSdp.addAll(RawSipCall.probe(port, local -> ascii(RawSipCall.invite(port, local, "application/sdp",
                    "v=0\r\nthis is not sdp\r\n")), 1000).stream().filter(c -> c >= 200).toList());
            Waits.sleep(250);
        }
        // And RTP to the live call's port: wrong payload type, an unknown source, truncated headers (50 each)
        long wrongPtBefore = bridge.media.wrongPayloadType.sum();
        long unknownBefore = bridge.media.unknownSource.sum();
        long malformedRtpBefore = bridge.media.malformed.sum();
        InetAddress lo = InetAddress.getLoopbackAddress();
        byte[] wrongPt = new byte[172];
        wrongPt[0] = (byte) 0x80;
        wrongPt[1] = 96;
        try (DatagramSocket stranger = new DatagramSocket(new InetSocketAddress(lo, 0))) {
            for (int i = 0; i < 50; i++) {
                call.rtpSocket().send(new DatagramPacket(wrongPt, wrongPt.length, lo, call.bridgeRtpPort()));
                byte[] other = wrongPt.clone();
                other[1] = 0;
                stranger.send(new DatagramPacket(other, other.length, lo, call.bridgeRtpPort()));
                call.rtpSocket().send(new DatagramPacket(new byte[]{(byte) 0x80, 0, 0, 1, 0}, 5, lo, call.bridgeRtpPort()));
            }
        }
        // And an INVITE flood from sipp
        long floodFrom = System.nanoTime();
        double limitedBefore = bridge.rejected("rate_limited") + bridge.rejected("max_calls");
        SippCaller flood = SippCaller.start(tmp, "invite_refused.xml", Map.of("STATUS", "503"), port, FLOOD, FLOOD_RATE, FLOOD);
        int floodExit = flood.await(120);
        long floodTo = System.nanoTime();
        Map<String, String> floodStats = flood.lastStats();
        double refusedInFlood = bridge.rejected("rate_limited") + bridge.rejected("max_calls") - limitedBefore;
        long heapAfter = usedHeapAfterGc();

        // Then the bridge answered what it could read and counted what it could not
        assertThat(noCodec).as("INVITE with only G.722").containsOnly(488).hasSize(3);
        assertThat(badSdp).as("INVITE with a body that is not SDP").containsOnly(400).hasSize(3);
        assertThat(bridge.media.wrongPayloadType.sum() - wrongPtBefore).isEqualTo(50);
        assertThat(bridge.media.unknownSource.sum() - unknownBefore).isEqualTo(50);
        assertThat(bridge.media.malformed.sum() - malformedRtpBefore).isEqualTo(50);
        assertThat(refusedInFlood).as("flood INVITEs answered 503").isGreaterThanOrEqualTo(FLOOD * 0.9);
        // And the live call kept its audio
        Quality baseline = Quality.of(call.received(), baselineFrom, baselineTo);
        Quality during = Quality.of(call.received(), floodFrom, floodTo);
        assertThat(bridge.liveCalls()).as("the live call survived (answered flood calls may linger)").contains(callId);
        assertThat(during.lost()).as("RTP packets lost during the flood").isZero();
        assertThat(during.packets()).as("audio kept flowing").isGreaterThan((int) ((floodTo - floodFrom) / 20_000_000L * 0.75));
        // And the heap stayed bounded
        assertThat(heapAfter - heapBefore).as("heap growth over the flood").isLessThan(64L << 20);
        feeding.set(false);
        feeder.join(5000);
        assertThat(call.hangUp()).isEqualTo(200);

        Figures.note("malformed SIP answers %s (counted %.0f of %d datagrams); no codec %s; bad SDP %s", answers,
                malformedCounted, malformed.size() * 5, noCodec, badSdp);
        Figures.note("flood: sipp exit %d, %s; bridge refused %.0f (rate_limited %.0f, max_calls %.0f)", floodExit,
                floodStats.entrySet().stream().filter(e -> e.getKey().startsWith("SuccessfulCall(C)") || e.getKey().startsWith("FailedCall(C)")
                        || e.getKey().startsWith("TotalCallCreated")).toList(), refusedInFlood, bridge.rejected("rate_limited"),
                bridge.rejected("max_calls"));
        Figures.note("live call baseline %s; during flood %s", baseline, during);
        Figures.line("test=sip-rtp-abuse malformed_sent=%d malformed_counted=%.0f no_codec_488=%d bad_sdp_400=%d rtp_bad=150"
                        + " flood_invites=%d flood_refused=%.0f flood_s=%.1f live_loss=%d live_slipped=%d live_jitter_ms=%.2f"
                        + " live_p99_dev_ms=%.2f live_max_gap_ms=%.0f baseline_jitter_ms=%.2f baseline_p99_dev_ms=%.2f heap_before_mb=%d heap_after_mb=%d",
                malformed.size() * 5, malformedCounted, noCodec.size(), badSdp.size(), FLOOD, refusedInFlood,
                (floodTo - floodFrom) / 1e9, during.lost(), during.slipped(), during.jitterMs(), during.p99DeviationMs(),
                during.maxGapMs(), baseline.jitterMs(), baseline.p99DeviationMs(), heapBefore >> 20, heapAfter >> 20);
    }

    private static double malformedTotal(Roles.Bridge bridge) {
        return bridge.malformed("parse_error") + bridge.malformed("bad_header") + bridge.malformed("missing_header")
                + bridge.malformed("hostile_header");
    }
}
