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
import dev.omnicall.events.EndReason;
import dev.omnicall.events.PlaybackStarted;
import dev.omnicall.kafka.Clock;
import dev.omnicall.kafka.SerdeConfig;
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
    }

    @AfterAll
    static void stopAll() {
        if (broker != null) {
            broker.close();
        }
    }

    private static int speechMs(short[] pcm, int rate) {
        int[] span = TestAudio.activeSpan(TestAudio.envelopeDb(pcm, rate, 20), 40);
        return span == null ? 0 : (span[1] - span[0] + 1) * 20;
    }

    @Test
    void shouldPlayReplyChunksToTheCaller() throws Exception {
        // Given baresip calling with a silent microphone
        Path silence = TestAudio.silenceWav(tmp, "silence.wav", 15);
        long since = Clock.nowMicros();
        try (Baresip caller = Baresip.call(tmp, sipPort, silence, 8)) {
            String callId = broker.probe().awaitEventRecord(CallStarted.class, e -> e.getOccurredUs() >= since, WAIT).getCallId();

            // When a worker's reply for turn 0 arrives on response-audio
            broker.probe().sendReply(callId, 0, 0, TestAudio.bytes(reply16k), 200);

            // Then playback starts, and baresip hangs up at the end (CALLER_HANGUP)
            PlaybackStarted started = broker.probe().awaitEvent(PlaybackStarted.class, e -> e.getCallId().equals(callId), WAIT);
            assertThat(started.getFirstRtpUs()).isGreaterThanOrEqualTo(started.getChunkReceivedUs());
            assertThat(caller.await(30)).as(caller.log()).isTrue();
            CallEnded ended = broker.probe().awaitEvent(CallEnded.class, e -> e.getCallId().equals(callId), WAIT);
            assertThat(ended.getReason()).isEqualTo(EndReason.CALLER_HANGUP);

            // And the caller's recording holds the reply: not silent, as long as what was sent
            Path recording = caller.receivedRecording().orElseThrow(() -> new AssertionError("no recording\n" + caller.log()));
            short[] heard = TestAudio.readAsPcm(recording, 16000);
            int sentMs = speechMs(reply16k, 16000);
            int heardMs = speechMs(heard, 16000);
            System.out.printf("reply speech: sent %d ms, caller heard %d ms%n", sentMs, heardMs);
            assertThat(heardMs).isCloseTo(sentMs, org.assertj.core.data.Percentage.withPercentage(5));
        }
    }

    @Test
    void shouldStopReplyAndPublishBargeInWhenCallerSpeaksOverIt() throws Exception {
        // Given a caller who is silent for 1.5 s and then talks
        Path talk = TestAudio.speak(tmp, "bargein.wav", "Wait wait I have a question about the menu", 1.5, 10,
                "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer");
        long since = Clock.nowMicros();
        try (Baresip caller = Baresip.call(tmp, sipPort, talk, 8)) {
            String callId = broker.probe().awaitEventRecord(CallStarted.class, e -> e.getOccurredUs() >= since, WAIT).getCallId();

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
