package dev.omnicall.bridge.it;

import dev.omnicall.bridge.BridgeConfig;
import dev.omnicall.bridge.BridgeMetrics;
import dev.omnicall.bridge.BridgeServer;
import dev.omnicall.bridge.media.MediaConfig;
import dev.omnicall.bridge.sip.SipConfig;
import dev.omnicall.bridge.testing.FreePorts;
import dev.omnicall.bridge.testing.ProbedBroker;
import dev.omnicall.bridge.testing.Sipp;
import dev.omnicall.bridge.testing.TestAudio;
import dev.omnicall.bridge.vad.VadFactory;
import dev.omnicall.events.AudioSegment;
import dev.omnicall.events.CallEnded;
import dev.omnicall.events.CallEvent;
import dev.omnicall.events.CallStarted;
import dev.omnicall.events.Codec;
import dev.omnicall.events.Dtmf;
import dev.omnicall.events.EndReason;
import dev.omnicall.kafka.Clock;
import dev.omnicall.kafka.SerdeConfig;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The whole bridge against the real sipp caller and a real KRaft broker: one broker and one bridge for
 * the class (max 1 call, 2 s RTP timeout), a fresh sipp per test.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class BridgeSippIT {

    private static final SerdeConfig SERDE = SerdeConfig.embedded();
    private static final Duration WAIT = Duration.ofSeconds(20);

    @TempDir
    static Path tmp;

    static ProbedBroker broker;
    static VadFactory vad;
    static BridgeServer bridge;
    static int sipPort;

    @BeforeAll
    static void startBrokerAndBridge() {
        broker = ProbedBroker.start(3, SERDE);
        vad = broker.own(VadFactory.create());
        sipPort = FreePorts.udpAndTcp();
        bridge = broker.own(new BridgeServer(config("it-bridge", sipPort), BridgeMetrics.inMemory()));
        bridge.start();
    }

    static BridgeConfig config(String id, int port) {
        SipConfig sip = SipConfig.defaults("127.0.0.1", port, "127.0.0.1").withMaxCalls(1);
        int rtpBase = FreePorts.rtpPair();
        return BridgeConfig.single(id, sip, MediaConfig.defaults(vad), broker.settings(), SERDE)
                .withRtpPorts(rtpBase, rtpBase + 40).withRtpTimeout(Duration.ofSeconds(2));
    }

    @AfterAll
    static void stopAll() {
        if (broker != null) {
            broker.close();
        }
    }

    private static String awaitCallStartedAfter(long sinceUs) throws InterruptedException {
        return broker.probe().awaitEventRecord(CallStarted.class, e -> e.getOccurredUs() >= sinceUs, WAIT).getCallId();
    }

    private static CallEnded awaitEnded(String callId) throws InterruptedException {
        return broker.probe().awaitEvent(CallEnded.class, e -> e.getCallId().equals(callId), WAIT);
    }

    @Test
    void shouldPublishCallerSpeechAsSegmentsWithSameDurationAndEnergyProfile() throws Exception {
        // Given 2.5 s-ish of espeak-ng speech as raw 8 kHz μ-law, padded with silence
        Path ulaw = TestAudio.speak(tmp, "caller.ul", "Hello I would like to book a table for two people tonight",
                0.4, 1.2, "-r", "8000", "-c", "1", "-t", "ul");
        short[] sent = TestAudio.readAsPcm(ulaw.resolveSibling("caller.ul"), 16000);
        long since = Clock.nowMicros();

        // When sipp calls, streams it over RTP (PCMU) and hangs up after it
        Sipp.Result result = new Sipp(tmp, "uac_speak_bye.xml",
                Map.of("AUDIO", ulaw.toString(), "PAUSE_MS", Long.toString(sent.length / 16 + 800))).run(sipPort, 60);

        // Then the call was answered and announced with PCMU, and ended by the caller
        assertThat(result.passed()).as(result.log()).isTrue();
        String callId = awaitCallStartedAfter(since);
        CallStarted started = broker.probe().awaitEvent(CallStarted.class, e -> e.getCallId().equals(callId), WAIT);
        assertThat(started.getCodec()).isEqualTo(Codec.PCMU);
        assertThat(awaitEnded(callId).getReason()).isEqualTo(EndReason.CALLER_HANGUP);

        // And the segments on caller-audio, laid on their capture clock, carry the same speech
        List<AudioSegment> segments = broker.probe().segments(callId).stream()
                .sorted(Comparator.comparingLong(AudioSegment::getCaptureStartUs)).toList();
        assertThat(segments).isNotEmpty();
        assertThat(segments.stream().filter(AudioSegment::getEndOfUtterance)).isNotEmpty();
        AudioSegment last = segments.stream().filter(AudioSegment::getEndOfUtterance).reduce((a, b) -> b).orElseThrow();
        assertThat(last.getTimings()).isNotNull();
        assertThat(last.getTimings().getSpeechEndUs()).isLessThanOrEqualTo(last.getTimings().getEndOfTurnUs());
        assertThat(last.getTimings().getEndOfTurnUs()).isLessThanOrEqualTo(last.getTimings().getSegmentProducedUs());

        short[] received = timeline(segments);
        double[] sentEnv = TestAudio.envelopeDb(sent, 16000, 20);
        double[] recvEnv = TestAudio.envelopeDb(received, 16000, 20);
        int[] sentSpan = TestAudio.activeSpan(sentEnv, 40);
        int[] recvSpan = TestAudio.activeSpan(recvEnv, 40);
        int sentFrames = sentSpan[1] - sentSpan[0] + 1;
        int recvFrames = recvSpan[1] - recvSpan[0] + 1;
        System.out.printf("speech span: sent %d ms, published %d ms (%d segments)%n", sentFrames * 20, recvFrames * 20,
                segments.size());
        assertThat((double) recvFrames).isCloseTo(sentFrames, org.assertj.core.data.Percentage.withPercentage(2));
        double[] a = java.util.Arrays.copyOfRange(sentEnv, sentSpan[0], sentSpan[0] + sentFrames);
        double[] b = java.util.Arrays.copyOfRange(recvEnv, recvSpan[0], recvSpan[0] + sentFrames);
        double r = TestAudio.correlation(a, b);
        System.out.printf("energy envelope correlation %.3f%n", r);
        assertThat(r).isGreaterThan(0.9);
    }

    /** Lays segments at their capture offsets (gaps between utterances stay silent). */
    private static short[] timeline(List<AudioSegment> segments) {
        long t0 = segments.get(0).getCaptureStartUs();
        long endUs = segments.get(segments.size() - 1).getCaptureEndUs();
        short[] out = new short[(int) ((endUs - t0) * 16 / 1000) + 16000];
        for (AudioSegment s : segments) {
            byte[] pcm = new byte[s.getPcm().remaining()];
            s.getPcm().duplicate().get(pcm);
            short[] samples = TestAudio.pcm(pcm);
            int at = (int) ((s.getCaptureStartUs() - t0) * 16 / 1000);
            System.arraycopy(samples, 0, out, at, Math.min(samples.length, out.length - at));
        }
        return out;
    }

    @Test
    void shouldPublishDtmfDigitSentAsRfc4733Events() throws Exception {
        long since = Clock.nowMicros();

        Sipp.Result result = new Sipp(tmp, "uac_dtmf_bye.xml",
                Map.of("PCAP", "/usr/share/sip-tester/dtmf_2833_1.pcap", "PAUSE_MS", "1200")).run(sipPort, 60);

        assertThat(result.passed()).as(result.log()).isTrue();
        String callId = awaitCallStartedAfter(since);
        Dtmf dtmf = broker.probe().awaitEvent(Dtmf.class, e -> e.getCallId().equals(callId), WAIT);
        assertThat(dtmf.getDigit()).isEqualTo("1");
        assertThat(awaitEnded(callId).getReason()).isEqualTo(EndReason.CALLER_HANGUP);
    }

    @Test
    void shouldRefuseCallBeyondMaxCallsWith503() throws Exception {
        // Given one call up (the bridge takes one)
        long since = Clock.nowMicros();
        Sipp.Running first = new Sipp(tmp, "uac_call_bye.xml", Map.of()).args("-d", "1500").start(sipPort);
        String callId = awaitCallStartedAfter(since);

        // When a second caller calls
        Sipp.Result second = new Sipp(tmp, "uac_refused.xml", Map.of("STATUS", "503", "FORMATS", "0")).run(sipPort, 30);

        // Then it gets 503, and the first call goes on to a normal end
        assertThat(second.passed()).as(second.log()).isTrue();
        Sipp.Result firstResult = first.await(30);
        assertThat(firstResult.passed()).as(firstResult.log()).isTrue();
        assertThat(awaitEnded(callId).getReason()).isEqualTo(EndReason.CALLER_HANGUP);
    }

    @Test
    void shouldEndCallWithRtpTimeoutWhenCallerSendsNoAudio() throws Exception {
        long since = Clock.nowMicros();

        // sipp sends no RTP in this scenario and waits for our BYE
        Sipp.Result result = new Sipp(tmp, "uac_wait_bye.xml", Map.of("WAIT_MS", "10000")).run(sipPort, 30);

        assertThat(result.passed()).as(result.log()).isTrue();
        String callId = awaitCallStartedAfter(since);
        CallEnded ended = awaitEnded(callId);
        assertThat(ended.getReason()).isEqualTo(EndReason.RTP_TIMEOUT);
    }

    @Test
    void shouldByeCallerWhenBotHangsUp() throws Exception {
        long since = Clock.nowMicros();
        Sipp.Running run = new Sipp(tmp, "uac_wait_bye.xml", Map.of("WAIT_MS", "10000")).start(sipPort);
        String callId = awaitCallStartedAfter(since);

        assertThat(bridge.hangup(callId)).isTrue();

        Sipp.Result result = run.await(30);
        assertThat(result.passed()).as(result.log()).isTrue();
        assertThat(awaitEnded(callId).getReason()).isEqualTo(EndReason.BOT_HANGUP);
        assertThat(bridge.liveCalls()).doesNotContain(callId);
    }

    @Test
    void shouldByeEveryCallerAndPublishBridgeShutdownWhenStopped() throws Exception {
        // Given a second bridge with a call up
        int port = FreePorts.udpAndTcp();
        BridgeServer other = new BridgeServer(config("it-bridge-2", port), BridgeMetrics.inMemory());
        other.start();
        long since = Clock.nowMicros();
        Sipp.Running run = new Sipp(tmp, "uac_wait_bye.xml", Map.of("WAIT_MS", "10000")).start(port);
        String callId = broker.probe().awaitEventRecord(CallStarted.class,
                e -> e.getOccurredUs() >= since && e.getBridgeId().equals("it-bridge-2"), WAIT).getCallId();

        // When it stops
        other.stop();

        // Then the caller got a BYE and CallEnded says why
        Sipp.Result result = run.await(30);
        assertThat(result.passed()).as(result.log()).isTrue();
        assertThat(awaitEnded(callId).getReason()).isEqualTo(EndReason.BRIDGE_SHUTDOWN);
    }

    @Test
    void shouldDeadLetterUnreadableReplyRecordAndKeepServing() throws Exception {
        double before = bridge.metrics().count("omnicall_bridge_kafka_errors_total", "stage", "deserialize");

        broker.probe().sendRaw("not-a-call", new byte[]{1, 2, 3, 4, 5});

        long deadline = System.nanoTime() + WAIT.toNanos();
        while (bridge.metrics().count("omnicall_bridge_kafka_errors_total", "stage", "deserialize") == before
                && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertThat(bridge.metrics().count("omnicall_bridge_kafka_errors_total", "stage", "deserialize"))
                .isEqualTo(before + 1);
        Sipp.Result result = new Sipp(tmp, "uac_options.xml", Map.of()).run(sipPort, 30);
        assertThat(result.passed()).as(result.log()).isTrue();
    }

    @SuppressWarnings("unused")
    private static byte[] concat(List<byte[]> parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        parts.forEach(out::writeBytes);
        return out.toByteArray();
    }

    @SuppressWarnings("unused")
    private static List<CallEvent> eventsOf(String callId) {
        return broker.probe().events(callId);
    }
}
