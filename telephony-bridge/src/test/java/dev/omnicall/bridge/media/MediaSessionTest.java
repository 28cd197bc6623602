package dev.omnicall.bridge.media;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.omnicall.bridge.codec.ALaw;
import dev.omnicall.bridge.codec.G711;
import dev.omnicall.bridge.codec.MuLaw;
import dev.omnicall.bridge.rtp.DtmfDetector.DtmfDigit;
import dev.omnicall.bridge.rtp.RtpPacket;
import dev.omnicall.bridge.rtp.TelephoneEvent;
import dev.omnicall.bridge.vad.Speech;
import dev.omnicall.bridge.vad.VadFactory;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.assertj.core.data.Percentage;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** A MediaSession on loopback against a hand-driven UDP peer playing the caller. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class MediaSessionTest {
    private static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();
    private static VadFactory vads;
    private static RtpPacer pacer;

    private final CountingMediaMetrics metrics = new CountingMediaMetrics();
    private final List<Segment> segments = new CopyOnWriteArrayList<>();
    private final List<DtmfDigit> digits = new CopyOnWriteArrayList<>();
    private final List<TurnAttempt> bargeIns = new CopyOnWriteArrayList<>();
    private final List<PlayedPart> heard = new CopyOnWriteArrayList<>();
    private final List<Long> playbackStarted = new CopyOnWriteArrayList<>();
    private DatagramSocket caller;
    private MediaSession session;

    private final MediaListener listener = new MediaListener() {
        @Override public void onSegment(Segment s) { segments.add(s); }
        @Override public void onDtmf(DtmfDigit d) { digits.add(d); }
        @Override public void onBargeIn(PlayedPart p, long us) { heard.add(p); bargeIns.add(p.turn()); }
        @Override public void onPlaybackStarted(TurnAttempt t, long us) { playbackStarted.add(us); }
    };

    @BeforeAll
    static void shared() {
        vads = VadFactory.create();
        pacer = new RtpPacer("test-pacer", 1);
    }

    @AfterAll
    static void closeShared() {
        vads.close();
        pacer.close();
    }

    @AfterEach
    void close() {
        if (session != null) {
            session.close();
        }
        if (caller != null) {
            caller.close();
        }
    }

    private MediaSession open(G711 codec, int ptime, MediaConfig config) throws Exception {
        caller = new DatagramSocket(new InetSocketAddress(LOOPBACK, 0));
        caller.setSoTimeout(2000);
        RtpPortAllocator ports = new RtpPortAllocator(LOOPBACK, 30_000, 30_998);
        session = MediaSession.open(config, ports, codec, ptime, (InetSocketAddress) caller.getLocalSocketAddress());
        session.start(listener);
        return session;
    }

    private MediaConfig config() {
        return MediaConfig.defaults(vads).withPacer(pacer).withMetrics(metrics);
    }

    private void send(byte[] datagram) throws Exception {
        caller.send(new DatagramPacket(datagram, datagram.length, session.localAddress()));
    }

    private RtpPacket receive() throws Exception {
        byte[] buf = new byte[1500];
        DatagramPacket p = new DatagramPacket(buf, buf.length);
        caller.receive(p);
        return RtpPacket.parse(buf, 0, p.getLength()).orThrow();
    }

    private static byte[] pcm16k(int ms, double hz) {
        byte[] b = new byte[ms * 32];
        for (int i = 0; i < ms * 16; i++) {
            short s = (short) (8000 * Math.sin(2 * Math.PI * hz * i / 16000));
            b[2 * i] = (byte) s;
            b[2 * i + 1] = (byte) (s >> 8);
        }
        return b;
    }

    private static void await(java.util.function.BooleanSupplier condition, long timeoutMs) throws InterruptedException {
        long end = System.currentTimeMillis() + timeoutMs;
        while (!condition.getAsBoolean() && System.currentTimeMillis() < end) {
            Thread.sleep(5);
        }
    }

    @Test
    void shouldSendPacedPacketsWithMarkerSequenceAndTimestampPerRfc3550And3551() throws Exception {
        open(MuLaw.INSTANCE, 20, config());
        session.playChunk(0, 0, 0, pcm16k(400, 440), true);
        List<RtpPacket> got = new ArrayList<>();
        List<Long> arrivals = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            got.add(receive());
            arrivals.add(System.nanoTime());
        }
        assertThat(got.get(0).marker()).isTrue();                     // first packet of a talkspurt
        assertThat(got.subList(1, 20)).noneMatch(RtpPacket::marker);
        assertThat(got).extracting(RtpPacket::payloadType).containsOnly(0);
        assertThat(got).extracting(RtpPacket::ssrc).containsOnly(session.ssrc());
        for (int i = 1; i < got.size(); i++) {
            assertThat(got.get(i).sequenceNumber()).isEqualTo((got.get(i - 1).sequenceNumber() + 1) & 0xFFFF);
            assertThat(got.get(i).timestamp()).isEqualTo((got.get(i - 1).timestamp() + 160) & 0xFFFF_FFFFL);
            assertThat(got.get(i).payload()).hasSize(160);
        }
        // paced, not bursted: 19 intervals of 20 ms is 380 ms. The bounds are wide because a late first
        // receive on a loaded machine shortens the span (the pacer keeps its absolute clock) and a busy
        // machine stretches it; a burst would take a few milliseconds. Pacing precision is measured by
        // MediaLoadBenchmark, not here.
        long spanMs = (arrivals.get(19) - arrivals.get(0)) / 1_000_000;
        assertThat(spanMs).isBetween(250L, 700L);
        await(() -> playbackStarted.size() == 1, 1000);
        assertThat(playbackStarted).hasSize(1);
    }

    @Test
    void shouldPacketize30MsPcmaWhenNegotiated() throws Exception {
        open(ALaw.INSTANCE, 30, config());
        session.playChunk(0, 0, 0, pcm16k(200, 440), true);
        RtpPacket a = receive();
        RtpPacket b = receive();
        assertThat(a.payloadType()).isEqualTo(8);
        assertThat(a.payload()).hasSize(240);
        assertThat(b.timestamp() - a.timestamp()).isEqualTo(240);
    }

    /** {@code ms} of S16LE mono at {@code rate}, a tone of amplitude 8000. */
    private static byte[] pcmAt(int rate, int ms, double hz) {
        int n = ms * rate / 1000;
        byte[] b = new byte[2 * n];
        for (int i = 0; i < n; i++) {
            short s = (short) Math.round(8000 * Math.sin(2 * Math.PI * hz * i / rate));
            b[2 * i] = (byte) s;
            b[2 * i + 1] = (byte) (s >> 8);
        }
        return b;
    }

    /** Every packet until the peer has sent nothing for 300 ms. */
    private List<RtpPacket> receiveUntilQuiet() throws Exception {
        List<RtpPacket> got = new ArrayList<>();
        got.add(receive());
        caller.setSoTimeout(300);
        try {
            while (true) {
                got.add(receive());
            }
        } catch (SocketTimeoutException quiet) {
            return got;
        }
    }

    @ParameterizedTest(name = "{0} Hz on {1} at {2} ms")
    @CsvSource({"24000, PCMU, 20", "24000, PCMA, 30", "8000, PCMU, 20", "8000, PCMA, 30", "16000, PCMA, 30"})
    void shouldPlayAReplyAtItsSampleRateAsG711OfTheSameDurationToneAndLevel(int rate, String codecName, int ptime)
            throws Exception {
        // Given a call with the negotiated codec and packet time
        G711 codec = codecName.equals("PCMU") ? MuLaw.INSTANCE : ALaw.INSTANCE;
        open(codec, ptime, config());

        // When a 400 ms reply of a 1 kHz tone arrives at that rate
        assertThat(session.playChunk(0, 0, 0, rate, pcmAt(rate, 400, 1000), true, -1)).isEqualTo(PlayoutBuffer.Outcome.QUEUED);
        List<RtpPacket> got = receiveUntilQuiet();

        // Then it goes out as packets of ptime each, back to back, as long as the reply (plus the 3 ms filter tail
        // above 8 kHz, padded to a whole packet)
        int perPacket = 8 * ptime;
        int samples = 3200 + (rate == 8000 ? 0 : 48);
        assertThat(got).hasSize((samples + perPacket - 1) / perPacket);
        assertThat(got).extracting(RtpPacket::payloadType).containsOnly(codec.payloadType());
        for (int i = 1; i < got.size(); i++) {
            assertThat(got.get(i).timestamp() - got.get(i - 1).timestamp()).isEqualTo(perPacket);
            assertThat(got.get(i).payload()).hasSize(perPacket);
        }
        // And the caller decodes the tone sent, at the level sent (G.711 quantizes to about 1 %)
        short[] heard = new short[got.size() * perPacket];
        for (int i = 0; i < got.size(); i++) {
            System.arraycopy(codec.decode(got.get(i).payload()), 0, heard, i * perPacket, perPacket);
        }
        short[] body = java.util.Arrays.copyOfRange(heard, 200, 3000);
        double sum = 0;
        int crossings = 0;
        for (int i = 0; i < body.length; i++) {
            sum += (double) body[i] * body[i];
            crossings += i > 0 && body[i - 1] < 0 && body[i] >= 0 ? 1 : 0;
        }
        assertThat(Math.sqrt(sum / body.length)).isCloseTo(8000 / Math.sqrt(2), Percentage.withPercentage(3));
        assertThat(crossings).as("1 kHz over 350 ms").isBetween(349, 351);
    }

    @ParameterizedTest
    @ValueSource(ints = {8000, 24000})
    void shouldStopSendingWithin60MsOfStopWhateverTheRate(int rate) throws Exception {
        open(MuLaw.INSTANCE, 20, config());
        session.playChunk(3, 0, 0, rate, pcmAt(rate, 5000, 440), false, -1);
        receive();
        receive();
        long stopAt = System.nanoTime();
        assertThat(session.interruptPlayback().turn()).isEqualTo(new TurnAttempt(3, 0));
        long lastArrival = stopAt;
        caller.setSoTimeout(300);
        try {
            while (true) {
                receive();
                lastArrival = System.nanoTime();
            }
        } catch (SocketTimeoutException quiet) {
            // nothing more came
        }
        assertThat((lastArrival - stopAt) / 1_000_000).isLessThanOrEqualTo(60);
        assertThat(session.playChunk(3, 0, 1, rate, pcmAt(rate, 100, 440), false, -1))
                .isEqualTo(PlayoutBuffer.Outcome.STOPPED_TURN);
    }

    @Test
    void shouldStopSendingWithin60MsOfStop() throws Exception {
        open(MuLaw.INSTANCE, 20, config());
        session.playChunk(3, 0, 0, pcm16k(5000, 440), false);
        receive();
        receive();
        long stopAt = System.nanoTime();
        assertThat(session.stopPlayback()).isEqualTo(new TurnAttempt(3, 0));
        long lastArrival = stopAt;
        caller.setSoTimeout(300);
        try {
            while (true) {
                receive();
                lastArrival = System.nanoTime();
            }
        } catch (SocketTimeoutException quiet) {
            // nothing more came
        }
        assertThat((lastArrival - stopAt) / 1_000_000).isLessThanOrEqualTo(60);
        assertThat(session.playChunk(3, 0, 1, pcm16k(100, 440), false)).isEqualTo(PlayoutBuffer.Outcome.STOPPED_TURN);
    }

    @Test
    void shouldReportTheAudioThatWentOutAsRtpAndTheTextItVoicedWhenPlaybackIsInterrupted() throws Exception {
        // Given a reply of five 200 ms chunks, each voicing more of the reply text (AudioChunk.textChars)
        open(MuLaw.INSTANCE, 20, config());
        int[] textChars = {9, 21, 30, 44, 52};
        for (int seq = 0; seq < textChars.length; seq++) {
            session.playChunk(4, 0, seq, pcm16k(200, 440), false, textChars[seq]);
        }

        // When the caller has received about half a second and playback is interrupted
        int received = 0;
        while (received < 26) {
            receive();
            received++;
        }
        PlayedPart played = session.interruptPlayback();
        caller.setSoTimeout(300);
        try {
            while (true) {
                receive();   // the packet of the tick in flight, if any
                received++;
            }
        } catch (SocketTimeoutException quiet) {
            // nothing more came
        }

        // Then the report matches what the caller got: every packet is 20 ms of the reply, and the text is that
        // of the last chunk whose sound (1600 samples each, plus the resampler's 24-sample delay) arrived whole
        assertThat(played.turn()).isEqualTo(new TurnAttempt(4, 0));
        assertThat(played.playedMs()).isEqualTo(received * 20);
        assertThat(session.stats().packetsSent()).isEqualTo(received);
        int wholeChunks = (received * 160 - 24) / 1600;
        assertThat(played.playedTextChars()).isEqualTo(wholeChunks == 0 ? 0 : textChars[wholeChunks - 1]);
        assertThat(wholeChunks).as("the test interrupts after two chunks and before the third").isEqualTo(2);
    }

    @Test
    void shouldReportDtmfDigitOnceFromThreeEndPacketsPerRfc4733() throws Exception {
        open(MuLaw.INSTANCE, 20, config());
        int seq = 100;
        long ts = 8000;
        for (int d = 160; d <= 640; d += 160) {
            send(RtpPacket.of(d == 160, 101, seq++, ts, 7, new TelephoneEvent(9, false, 10, d).toBytes()).toBytes());
        }
        for (int i = 0; i < 3; i++) {
            send(RtpPacket.of(false, 101, seq++, ts, 7, new TelephoneEvent(9, true, 10, 800).toBytes()).toBytes());
        }
        await(() -> !digits.isEmpty(), 2000);
        Thread.sleep(50);
        assertThat(digits).containsExactly(new DtmfDigit('9', 100));
    }

    @Test
    void shouldHoldTheTurnOpenForTheLongestAdaptiveWaitAfterADtmfDigitAndCountTheWait() throws Exception {
        assumeTrue(Speech.toolsAvailable(), "espeak-ng and sox are needed");
        // Given the adaptive end-of-turn wait 400..1000 ms (base 500) and a caller who keys a digit, then speaks
        open(MuLaw.INSTANCE, 20, config().withSegmenter(SegmenterConfig.defaults().withEndOfUtteranceSilenceMs(500)
                .withAdaptiveEndOfTurn(AdaptiveEndOfTurn.between(400, 1000))));
        int seq = 1;
        for (int d = 160; d <= 640; d += 160) {
            send(RtpPacket.of(d == 160, 101, seq++, 0, 99, new TelephoneEvent(9, false, 10, d).toBytes()).toBytes());
        }
        for (int i = 0; i < 3; i++) {
            send(RtpPacket.of(false, 101, seq++, 0, 99, new TelephoneEvent(9, true, 10, 800).toBytes()).toBytes());
        }
        await(() -> !digits.isEmpty(), 2000);
        sendAudio(Speech.concat(new short[4000], Speech.say("Opening hours, please.", 8000), new short[12_000]), seq);
        // When the utterance ends
        await(() -> segments.stream().anyMatch(Segment::endOfUtterance), 3000);
        // Then it ended after the longest wait (the digit was heard by the segmenter), and the metric says why; the
        // trailing silence is measured on the sample clock (speech end to the utterance's last sample), which a loaded
        // box's late packets do not shift
        Segment last = segments.get(segments.size() - 1);
        assertThat(last.captureEndUs() - last.speechEndUs()).isBetween(1_000_000L, 1_032_000L);
        assertThat(metrics.endOfTurnWaits.keySet()).containsExactly("dtmf");
        assertThat(metrics.endOfTurnWaitMs.get("dtmf").sum()).isEqualTo(1000);
    }

    @Test
    void shouldCountAndSurviveMalformedWrongTypeAndForeignPackets() throws Exception {
        open(MuLaw.INSTANCE, 20, config());
        send(new byte[] {(byte) 0x80, 0x00, 0x00});                                // truncated header
        send(new byte[] {(byte) 0x83, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0});       // CC=3 in 14 bytes
        send(RtpPacket.of(false, 8, 1, 160, 7, new byte[160]).toBytes());             // PCMA on a PCMU call
        try (DatagramSocket stranger = new DatagramSocket(new InetSocketAddress(LOOPBACK, 0))) {
            byte[] p = RtpPacket.of(false, 0, 2, 320, 7, new byte[160]).toBytes();
            stranger.send(new DatagramPacket(p, p.length, session.localAddress()));
        }
        send(RtpPacket.of(false, 0, 3, 480, 7, new byte[160]).toBytes());             // a good one
        await(() -> session.stats().packetsReceived() == 1, 2000);
        MediaStats stats = session.stats();
        assertThat(stats.packetsMalformed()).isEqualTo(2);
        assertThat(stats.packetsWrongPayloadType()).isEqualTo(1);
        assertThat(stats.packetsUnknownSource()).isEqualTo(1);
        assertThat(stats.packetsReceived()).isEqualTo(1);
        assertThat(metrics.malformed.sum()).isEqualTo(2);
    }

    @Test
    void shouldLatchOntoFirstSourceWhenConfiguredForNat() throws Exception {
        caller = new DatagramSocket(new InetSocketAddress(LOOPBACK, 0));
        caller.setSoTimeout(2000);
        RtpPortAllocator ports = new RtpPortAllocator(LOOPBACK, 31_000, 31_998);
        // SDP said a private address that is not where packets come from
        session = MediaSession.open(config().withLatchRemote(true), ports, MuLaw.INSTANCE, 20,
                new InetSocketAddress("10.255.255.1", 4000));
        session.start(listener);
        send(RtpPacket.of(false, 0, 1, 160, 7, new byte[160]).toBytes());
        await(() -> session.stats().packetsReceived() == 1, 2000);
        session.playChunk(0, 0, 0, pcm16k(100, 440), true);
        assertThat(receive().payloadType()).isZero(); // replies go to the latched address
    }

    @Test
    void shouldPublishSegmentsOfSpokenUtteranceEndingWithEndOfUtterance() throws Exception {
        assumeTrue(Speech.toolsAvailable(), "espeak-ng and sox are needed");
        open(MuLaw.INSTANCE, 20, config());
        short[] speech = Speech.concat(new short[8000], Speech.say("Please tell me the opening hours.", 8000),
                new short[8000]);
        sendAudio(speech, 0);
        await(() -> segments.stream().anyMatch(Segment::endOfUtterance), 3000);
        assertThat(segments).isNotEmpty();
        Segment last = segments.get(segments.size() - 1);
        assertThat(last.endOfUtterance()).isTrue();
        assertThat(segments).extracting(Segment::utteranceId).containsOnly(0);
        assertThat(segments).anyMatch(Segment::voiced);
        int samples = segments.stream().mapToInt(Segment::samples).sum();
        assertThat(samples).isGreaterThan(16_000); // more than a second of 16 kHz speech
        assertThat(last.speechEndUs()).isNotNull().isLessThan(last.endOfTurnUs());
    }

    @Test
    void shouldStopPlaybackAndReportTurnWhenCallerBargesIn() throws Exception {
        assumeTrue(Speech.toolsAvailable(), "espeak-ng and sox are needed");
        open(MuLaw.INSTANCE, 20, config());
        session.playChunk(7, 1, 0, pcm16k(10_000, 300), false);
        receive();
        assertThat(session.isPlaying()).isTrue();
        short[] speech = Speech.say("Wait, stop, that is not what I asked.", 8000);
        sendAudio(speech, 0);
        await(() -> !bargeIns.isEmpty(), 3000);
        assertThat(bargeIns).containsExactly(new TurnAttempt(7, 1));
        assertThat(session.isPlaying()).isFalse();
        assertThat(metrics.bargeIns.sum()).isEqualTo(1);
        // and it says how much went out: every packet the session sent, none of the 10 s chunk to its end
        Thread.sleep(60);
        PlayedPart played = heard.get(0);
        assertThat(played.playedMs()).isEqualTo(20 * session.stats().packetsSent()).isBetween(200, 9_000);
        assertThat(played.playedTextChars()).isZero();
    }

    @Test
    void shouldNotLengthenAnUtteranceWhenPacketsArriveLateAfterAStall() throws Exception {
        // Regression: a receive stall longer than the 80 ms idle fill used to add that silence AND then the late
        // packets, so under CPU load an utterance on Kafka came out longer than the caller spoke (BridgeSippIT
        // measured 3.6 % more). The RTP timestamps show the stream never paused, so the fill must be paid back.
        assumeTrue(Speech.toolsAvailable(), "espeak-ng and sox are needed");
        short[] speech = Speech.concat(new short[4000], Speech.say("Please tell me the opening hours of the bank.", 8000),
                new short[8000]);

        open(MuLaw.INSTANCE, 20, config());
        sendAudio(speech, 0, -1);
        await(() -> segments.stream().anyMatch(Segment::endOfUtterance), 3000);
        int paced = segments.stream().mapToInt(Segment::samples).sum();
        close();
        segments.clear();

        open(MuLaw.INSTANCE, 20, config());
        sendAudio(speech, 0, 40);   // after 40 packets nothing for 300 ms, then the held-back packets at once
        await(() -> segments.stream().anyMatch(Segment::endOfUtterance), 3000);
        int stalled = segments.stream().mapToInt(Segment::samples).sum();

        assertThat(stalled).as("samples published after a 300 ms stall vs paced").isCloseTo(paced,
                org.assertj.core.api.Assertions.within(2 * 512));
    }

    /** Sends 8 kHz audio as PCMU packets of 20 ms, paced in real time like a phone. */
    private void sendAudio(short[] pcm8k, int firstSeq) throws Exception {
        sendAudio(pcm8k, firstSeq, -1);
    }

    /** As above; from packet {@code stallAt} on, packets due in the next 300 ms are held back and sent at once. */
    private void sendAudio(short[] pcm8k, int firstSeq, int stallAt) throws Exception {
        long start = System.nanoTime();
        int seq = firstSeq;
        for (int at = 0, n = 0; at + 160 <= pcm8k.length; at += 160, n++) {
            short[] frame = java.util.Arrays.copyOfRange(pcm8k, at, at + 160);
            send(RtpPacket.of(n == 0, 0, seq++ & 0xFFFF, 1000 + at, 99, MuLaw.INSTANCE.encode(frame)).toBytes());
            long due = start + (n + 1) * 20_000_000L;
            if (stallAt >= 0 && n >= stallAt && n < stallAt + 15) {
                due = start + (stallAt + 15) * 20_000_000L;
            }
            long wait = due - System.nanoTime();
            if (wait > 0) {
                Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
            }
        }
    }
}
