package dev.omnicall.bridge.it;

import dev.omnicall.bridge.BridgeConfig;
import dev.omnicall.bridge.BridgeMetrics;
import dev.omnicall.bridge.BridgeServer;
import dev.omnicall.bridge.media.MediaConfig;
import dev.omnicall.bridge.sip.SipConfig;
import dev.omnicall.bridge.testing.Baresip;
import dev.omnicall.bridge.testing.FreePorts;
import dev.omnicall.bridge.testing.ProbedBroker;
import dev.omnicall.bridge.testing.TestAudio;
import dev.omnicall.bridge.vad.VadFactory;
import dev.omnicall.events.BargeIn;
import dev.omnicall.events.CallEnded;
import dev.omnicall.events.CallStarted;
import dev.omnicall.events.DeadLetter;
import dev.omnicall.events.EndReason;
import dev.omnicall.events.PlaybackStarted;
import dev.omnicall.kafka.Clock;
import dev.omnicall.kafka.SerdeConfig;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Meter;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Reply audio and barge-in with the real baresip caller, which records what it hears: a test plays
 * AudioChunks into response-audio as a worker would. One broker and one bridge for the class.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class BridgeBaresipIT {

    private static final SerdeConfig SERDE = SerdeConfig.embedded();
    private static final Duration WAIT = Duration.ofSeconds(20);

    @TempDir
    static Path tmp;

    static ProbedBroker broker;
    static VadFactory vad;
    static BridgeServer bridge;
    static int sipPort;
    static short[] reply16k;
    static short[] reply24k;

    @BeforeAll
    static void startBrokerAndBridge() throws Exception {
        broker = ProbedBroker.start(3, SERDE);
        vad = broker.own(VadFactory.create());
        sipPort = FreePorts.udpAndTcp();
        int rtpBase = FreePorts.rtpPair();
        SipConfig sip = SipConfig.defaults("127.0.0.1", sipPort, "127.0.0.1");
        bridge = broker.own(new BridgeServer(BridgeConfig.single("it-baresip", sip, MediaConfig.defaults(vad), broker.settings(), SERDE)
                .withRtpPorts(rtpBase, rtpBase + 40).withRtpTimeout(Duration.ofSeconds(5)), BridgeMetrics.inMemory()));
        bridge.start();
        Path reply = TestAudio.speak(tmp, "reply.raw", "Your table for two is booked for eight o clock tonight thank you",
                0, 0, "-r", "16000", "-c", "1", "-b", "16", "-e", "signed-integer", "-L", "-t", "raw");
        reply16k = TestAudio.pcm(java.nio.file.Files.readAllBytes(reply));
        Path reply24 = TestAudio.speak(tmp, "reply24k.raw", "Your table for two is booked for eight o clock tonight thank you",
                0, 0, "-r", "24000", "-c", "1", "-b", "16", "-e", "signed-integer", "-L", "-t", "raw");
        reply24k = TestAudio.pcm(java.nio.file.Files.readAllBytes(reply24));
    }

    @AfterAll
    static void stopAll() {
        if (broker != null) {
            broker.close();
        }
    }

    /**
     * The call ID of the call baresip placed after {@code sinceUs}; when none starts, a failure that says what
     * baresip did, what the bridge counted and what the probe read (a bare time-out left CI with nothing to go on).
     */
    private static String awaitCallStarted(Baresip caller, long sinceUs) throws InterruptedException {
        try {
            return broker.probe().awaitEventRecord(CallStarted.class, e -> e.getOccurredUs() >= sinceUs, WAIT).getCallId();
        } catch (AssertionError e) {
            StringBuilder counters = new StringBuilder();
            for (Meter m : bridge.metrics().registry().getMeters()) {
                if (m instanceof Counter c && c.count() > 0) {
                    counters.append(m.getId().getName()).append(m.getId().getTags()).append('=').append(c.count()).append(' ');
                }
            }
            throw new AssertionError(e.getMessage() + "; " + caller.state() + "; bridge counters: "
                    + (counters.isEmpty() ? "none" : counters.toString().trim()) + "\nbaresip log:\n" + caller.log(), e);
        }
    }

    private static int speechMs(short[] pcm, int rate) {
        int[] span = TestAudio.activeSpan(TestAudio.envelopeDb(pcm, rate, 20), 40);
        return span == null ? 0 : (span[1] - span[0] + 1) * 20;
    }

    @Test
    void shouldPlayReplyChunksToTheCaller() throws Exception {
        playReplyAndCheckWhatTheCallerHeard(reply16k, 16000);
    }

    @Test
    void shouldPlayA24kHzReplyToTheCaller() throws Exception {
        // A LLaMA-Omni2 worker's HiFT speaks at 24 kHz (issue 13 item 5)
        playReplyAndCheckWhatTheCallerHeard(reply24k, 24000);
    }

    @Test
    void shouldDeadLetterAReplyChunkAtARateTheBridgeDoesNotPlay() throws Exception {
        // Given a worker that sends a 44.1 kHz chunk (the bridge plays 8, 16 and 24 kHz)
        double before = bridge.metrics().count("omnicall_bridge_kafka_errors_total", "stage", "bridge");

        broker.probe().sendReply("call-at-44k", 0, 0, 44_100, new byte[2 * 4410], 100, -1);

        // Then it is a dead letter naming the call and the rates played, with its bytes, and it is counted
        DeadLetter dl = broker.probe().awaitDeadLetter(d -> d.getErrorMessage().contains("call-at-44k"), WAIT);
        assertThat(dl.getStage()).isEqualTo("bridge");
        assertThat(dl.getErrorClass()).contains("IllegalArgumentException");
        assertThat(dl.getErrorMessage()).contains("44100 Hz").contains("8000, 16000 and 24000 Hz");
        assertThat(dl.getValue()).isNotNull();
        assertThat(bridge.metrics().count("omnicall_bridge_kafka_errors_total", "stage", "bridge")).isEqualTo(before + 1);
    }

    private void playReplyAndCheckWhatTheCallerHeard(short[] reply, int rate) throws Exception {
        // Given baresip calling with a silent microphone
        Path silence = TestAudio.silenceWav(tmp, "silence-" + rate + ".wav", 15);
        long since = Clock.nowMicros();
        try (Baresip caller = Baresip.call(tmp, sipPort, silence, 8)) {
            String callId = awaitCallStarted(caller, since);

            // When a worker's reply for turn 0 arrives on response-audio at that rate
            broker.probe().sendReply(callId, 0, 0, rate, TestAudio.bytes(reply), 200, -1);

            // Then playback starts, and baresip hangs up at the end (CALLER_HANGUP)
            PlaybackStarted started = broker.probe().awaitEvent(PlaybackStarted.class, e -> e.getCallId().equals(callId), WAIT);
            assertThat(started.getFirstRtpUs()).isGreaterThanOrEqualTo(started.getChunkReceivedUs());
            assertThat(caller.await(30)).as(caller.log()).isTrue();
            CallEnded ended = broker.probe().awaitEvent(CallEnded.class, e -> e.getCallId().equals(callId), WAIT);
            assertThat(ended.getReason()).isEqualTo(EndReason.CALLER_HANGUP);

            // And the caller's recording holds the reply: not silent, as long as what was sent
            Path recording = caller.receivedRecording().orElseThrow(() -> new AssertionError("no recording\n" + caller.log()));
            short[] heard = TestAudio.readAsPcm(recording, 16000);
            int sentMs = speechMs(reply, rate);
            int heardMs = speechMs(heard, 16000);
            // with the energy envelope of the reply as a telephone line carries it (sox's resampler to 8 kHz, not ours),
            // compared over the sent speech span from the start of each span
            double[] sentEnv = TestAudio.envelopeDb(TestAudio.resample(tmp, reply, rate, 8000), 8000, 20);
            double[] heardEnv = TestAudio.envelopeDb(TestAudio.readAsPcm(recording, 8000), 8000, 20);
            int[] sentSpan = TestAudio.activeSpan(sentEnv, 40);
            int[] heardSpan = TestAudio.activeSpan(heardEnv, 40);
            int frames = sentSpan[1] - sentSpan[0] + 1;
            int compared = Math.min(frames, heardEnv.length - heardSpan[0]);   // the rest is missing: heardMs says so
            double r = TestAudio.correlation(
                    java.util.Arrays.copyOfRange(sentEnv, sentSpan[0], sentSpan[0] + compared),
                    java.util.Arrays.copyOfRange(heardEnv, heardSpan[0], heardSpan[0] + compared));
            System.out.printf("reply speech at %d Hz: sent %d ms, caller heard %d ms (from %d ms of a %d ms recording), "
                    + "energy envelope correlation %.3f%n", rate, sentMs, heardMs, heardSpan[0] * 20, heardEnv.length * 20, r);
            assertThat(heardMs).isCloseTo(sentMs, org.assertj.core.data.Percentage.withPercentage(5));
            assertThat(r).isGreaterThan(0.9);
        }
    }

    @Test
    void shouldStopReplyAndPublishBargeInWhenCallerSpeaksOverIt() throws Exception {
        // Given a caller who is silent for 1.5 s and then talks
        Path talk = TestAudio.speak(tmp, "bargein.wav", "Wait wait I have a question about the menu", 1.5, 10,
                "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer");
        long since = Clock.nowMicros();
        try (Baresip caller = Baresip.call(tmp, sipPort, talk, 8)) {
            String callId = awaitCallStarted(caller, since);

            // When a long reply (the sentence three times) starts playing at once
            short[] longReply = new short[reply16k.length * 3];
            for (int i = 0; i < 3; i++) {
                System.arraycopy(reply16k, 0, longReply, i * reply16k.length, reply16k.length);
            }
            broker.probe().sendReply(callId, 0, 0, TestAudio.bytes(longReply), 200, 10);   // 10 more text chars per chunk

            // Then the bridge publishes BargeIn for turn 0, saying how much of it went out: a whole number of
            // packets, and the text of the last 200 ms chunk (1600 samples at 8 kHz, + 24 of resampler delay) out whole
            BargeIn bargeIn = broker.probe().awaitEvent(BargeIn.class, e -> e.getCallId().equals(callId), WAIT);
            assertThat(bargeIn.getTurnId()).isEqualTo(0);
            assertThat(bargeIn.getPlayedMs() % 20).isZero();
            int wholeChunks = Math.max(0, (bargeIn.getPlayedMs() * 8 - 24) / 1600);
            assertThat(bargeIn.getPlayedTextChars()).isEqualTo(10 * wholeChunks);
            assertThat(caller.await(30)).as(caller.log()).isTrue();

            // And the caller heard only the start of the reply
            Path recording = caller.receivedRecording().orElseThrow(() -> new AssertionError("no recording\n" + caller.log()));
            short[] heard = TestAudio.readAsPcm(recording, 16000);
            int fullMs = longReply.length / 16;
            int heardMs = speechMs(heard, 16000);
            System.out.printf("barge-in: full reply %d ms, caller heard %d ms, BargeIn.playedMs %d, playedTextChars %d%n",
                    fullMs, heardMs, bargeIn.getPlayedMs(), bargeIn.getPlayedTextChars());
            assertThat(heardMs).isGreaterThan(200).isLessThan(fullMs / 2);
            // What the bridge says went out is what the caller's recording holds: its speech span, give or take the
            // reply's leading silence and the packets still in baresip's jitter buffer when it hung up (measured:
            // 1440 ms said, 1340 ms of speech recorded)
            assertThat(bargeIn.getPlayedMs()).isBetween(heardMs - 60, heardMs + 300);
        }
    }
}
