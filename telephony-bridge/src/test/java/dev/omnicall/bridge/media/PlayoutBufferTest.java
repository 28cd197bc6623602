package dev.omnicall.bridge.media;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class PlayoutBufferTest {
    private static final int PACKET = 160; // 20 ms at 8 kHz

    /** {@code ms} of 16 kHz S16LE audio, a constant level so resampled samples are recognizable. */
    private static byte[] chunk(int ms, short level) {
        byte[] b = new byte[ms * 16 * 2];
        for (int i = 0; i < b.length; i += 2) {
            b[i] = (byte) level;
            b[i + 1] = (byte) (level >> 8);
        }
        return b;
    }

    private static int drainPackets(PlayoutBuffer p) {
        int n = 0;
        while (p.poll(PACKET) != null) {
            n++;
        }
        return n;
    }

    @Test
    void shouldDropDuplicateChunksByTurnAttemptAndSeq() {
        PlayoutBuffer p = new PlayoutBuffer(0, 60_000, 3_000);
        assertThat(p.offer(1, 0, 0, chunk(100, (short) 1000), false)).isEqualTo(PlayoutBuffer.Outcome.QUEUED);
        assertThat(p.offer(1, 0, 0, chunk(100, (short) 1000), false)).isEqualTo(PlayoutBuffer.Outcome.DUPLICATE);
        assertThat(p.offer(1, 0, 1, chunk(100, (short) 1000), true)).isEqualTo(PlayoutBuffer.Outcome.QUEUED);
        // 200 ms + the 3 ms filter tail = 11 packets of 20 ms
        assertThat(drainPackets(p)).isEqualTo(11);
    }

    @Test
    void shouldPlayOnlyTheFirstAttemptOfATurnOnceItPlays() {
        PlayoutBuffer p = new PlayoutBuffer(0, 60_000, 3_000);
        p.offer(4, 0, 0, chunk(100, (short) 1000), false);
        PlayoutBuffer.Frame first = p.poll(PACKET);
        assertThat(first.turn()).isEqualTo(new TurnAttempt(4, 0));
        assertThat(first.firstOfTurn()).isTrue();
        assertThat(p.offer(4, 1, 0, chunk(100, (short) 1000), false)).isEqualTo(PlayoutBuffer.Outcome.OTHER_ATTEMPT);
    }

    @Test
    void shouldLetARetryReplaceAnAttemptThatNeverStartedPlaying() {
        PlayoutBuffer p = new PlayoutBuffer(200, 60_000, 3_000); // nothing plays before 200 ms are queued
        p.offer(4, 0, 0, chunk(20, (short) 1000), false);
        assertThat(p.poll(PACKET)).isNull();
        assertThat(p.offer(4, 1, 0, chunk(100, (short) 2000), true)).isEqualTo(PlayoutBuffer.Outcome.QUEUED);
        assertThat(p.poll(PACKET).turn()).isEqualTo(new TurnAttempt(4, 1));
    }

    @Test
    void shouldPlayChunksInSeqOrderWhenTheyArriveOutOfOrder() {
        PlayoutBuffer p = new PlayoutBuffer(0, 60_000, 3_000);
        p.offer(1, 0, 1, chunk(40, (short) 2000), true);
        assertThat(p.poll(PACKET)).isNull(); // seq 0 is missing
        p.offer(1, 0, 0, chunk(40, (short) 1000), false);
        PlayoutBuffer.Frame f = p.poll(PACKET);
        assertThat(f.pcm8k()[100]).isBetween((short) 990, (short) 1010); // seq 0's level first
    }

    @Test
    void shouldPlayPastAChunkThatNeverComesAfterWaiting() {
        PlayoutBuffer p = new PlayoutBuffer(0, 60_000, 3_000);
        p.offer(1, 0, 0, chunk(20, (short) 1000), false);
        p.offer(1, 0, 2, chunk(40, (short) 3000), true); // seq 1 is lost
        p.poll(PACKET);
        int silentPolls = 0;
        PlayoutBuffer.Frame f;
        while ((f = p.poll(PACKET)) == null) {
            silentPolls++;
        }
        assertThat(silentPolls * 20).isBetween(200, 240);
        assertThat(f.pcm8k()[100]).isBetween((short) 2990, (short) 3010);
    }

    @Test
    void shouldRefuseChunksOfAStoppedTurn() {
        PlayoutBuffer p = new PlayoutBuffer(0, 60_000, 3_000);
        p.offer(2, 0, 0, chunk(500, (short) 1000), false);
        p.poll(PACKET);
        assertThat(p.stop()).isEqualTo(new TurnAttempt(2, 0));
        assertThat(p.isActive()).isFalse();
        assertThat(p.poll(PACKET)).isNull();
        assertThat(p.offer(2, 0, 1, chunk(100, (short) 1000), false)).isEqualTo(PlayoutBuffer.Outcome.STOPPED_TURN);
        assertThat(p.offer(2, 1, 0, chunk(100, (short) 1000), false)).isEqualTo(PlayoutBuffer.Outcome.STOPPED_TURN);
    }

    @Test
    void shouldRefuseATurnOlderThanOneThatAlreadyPlayed() {
        PlayoutBuffer p = new PlayoutBuffer(0, 60_000, 3_000);
        p.offer(5, 0, 0, chunk(20, (short) 1000), true);
        drainPackets(p);
        assertThat(p.offer(3, 0, 0, chunk(20, (short) 1000), true)).isEqualTo(PlayoutBuffer.Outcome.STALE_TURN);
    }

    @Test
    void shouldPlayTurnsOneAfterAnotherAndFlagFirstAndLastFrames() {
        PlayoutBuffer p = new PlayoutBuffer(0, 60_000, 3_000);
        p.offer(1, 0, 0, chunk(40, (short) 1000), true);
        p.offer(2, 0, 0, chunk(40, (short) 1000), true);
        PlayoutBuffer.Frame a = p.poll(PACKET);
        PlayoutBuffer.Frame b = p.poll(PACKET);
        PlayoutBuffer.Frame c = p.poll(PACKET);
        assertThat(a.turn().turnId()).isEqualTo(1);
        assertThat(a.firstOfTurn()).isTrue();
        assertThat(c.turn().turnId()).isEqualTo(1);
        assertThat(c.lastOfTurn()).isTrue(); // 43 ms → 3 packets, the last padded with silence
        PlayoutBuffer.Frame d = p.poll(PACKET);
        assertThat(d.turn().turnId()).isEqualTo(2);
        assertThat(d.firstOfTurn()).isTrue();
        assertThat(b.firstOfTurn() || b.lastOfTurn()).isFalse();
    }

    @Test
    void shouldEndAnAttemptThatStallsWithoutItsFinalChunk() {
        PlayoutBuffer p = new PlayoutBuffer(0, 60_000, 200);
        p.offer(1, 0, 0, chunk(20, (short) 1000), false);
        p.offer(2, 0, 0, chunk(20, (short) 1000), true);
        int polls = 0;
        PlayoutBuffer.Frame f;
        do {
            f = p.poll(PACKET);
            polls++;
        } while ((f == null || f.turn().turnId() == 1) && polls < 100);
        assertThat(f).isNotNull();
        assertThat(f.turn().turnId()).isEqualTo(2);
        assertThat(polls).isBetween(10, 15);
    }

    @Test
    void shouldBoundQueuedAudio() {
        PlayoutBuffer p = new PlayoutBuffer(0, 1_000, 3_000);
        assertThat(p.offer(1, 0, 0, chunk(900, (short) 1), false)).isEqualTo(PlayoutBuffer.Outcome.QUEUED);
        assertThat(p.offer(1, 0, 1, chunk(200, (short) 1), false)).isEqualTo(PlayoutBuffer.Outcome.OVERFLOW);
    }

    // ---- sample rates (issue 13: 24 kHz replies) ---------------------------------------------------------

    /** {@code ms} of S16LE audio at {@code rate}: a 1 kHz tone of amplitude 8000. */
    private static byte[] tone(int ms, int rate) {
        int n = ms * rate / 1000;
        byte[] b = new byte[2 * n];
        for (int i = 0; i < n; i++) {
            short s = (short) Math.round(8000 * Math.sin(2 * Math.PI * 1000 * i / rate));
            b[2 * i] = (byte) s;
            b[2 * i + 1] = (byte) (s >> 8);
        }
        return b;
    }

    private static short[] playAll(PlayoutBuffer p) {
        short[] heard = new short[0];
        PlayoutBuffer.Frame f;
        while ((f = p.poll(PACKET)) != null) {
            heard = concat(heard, f.pcm8k());
            if (f.lastOfTurn()) {
                break;
            }
        }
        return heard;
    }

    @Test
    void shouldPlayA24kHzReplyAs8kHzPacketsOfTheSameDuration() {
        // Given a 24 kHz reply of three 100 ms chunks
        PlayoutBuffer p = new PlayoutBuffer(40, 60_000, 3_000);
        for (int seq = 0; seq < 3; seq++) {
            assertThat(p.offer(1, 0, seq, 24_000, tone(100, 24_000), seq == 2, -1)).isEqualTo(PlayoutBuffer.Outcome.QUEUED);
        }

        // When the pacer takes it packet by packet
        short[] heard = playAll(p);

        // Then it lasts 300 ms plus the filter's 3 ms tail, padded to whole packets: 2400 + 48 flushed samples = 16
        // packets; and the tone is the one sent, at the level sent, in every packet of the body
        assertThat(heard).hasSize(16 * PACKET);
        for (int packet = 1; packet < 15; packet++) {
            double rms = rms(heard, packet * PACKET, PACKET);
            assertThat(rms).as("packet %d", packet).isCloseTo(8000 / Math.sqrt(2), org.assertj.core.data.Percentage.withPercentage(1));
        }
        assertThat(java.util.Arrays.copyOfRange(heard, 2448, heard.length)).as("after the flush").containsOnly((short) 0);
        assertThat(p.isActive()).isFalse();
    }

    @Test
    void shouldPlayAn8kHzReplySampleForSample() {
        // Given an 8 kHz reply of two chunks
        PlayoutBuffer p = new PlayoutBuffer(40, 60_000, 3_000);
        byte[] first = tone(100, 8_000);
        byte[] second = tone(70, 8_000);
        p.offer(1, 0, 0, 8_000, first, false, -1);
        p.offer(1, 0, 1, 8_000, second, true, -1);

        // When it is played
        short[] heard = playAll(p);

        // Then the packets carry exactly the samples sent (no filter at 8 kHz), the last one padded with silence
        assertThat(heard).hasSize(9 * PACKET);   // 800 + 560 samples
        short[] sent = concat(samples(first), samples(second));
        assertThat(java.util.Arrays.copyOf(heard, sent.length)).containsExactly(sent);
        assertThat(java.util.Arrays.copyOfRange(heard, sent.length, heard.length)).containsOnly((short) 0);
    }

    @Test
    void shouldReportWhatWasPlayedOf24kHzChunksIn8kHzSamples() {
        // Given four 100 ms chunks at 24 kHz: 800 samples at 8 kHz each, the resampler's delay 24 samples as at 16 kHz
        PlayoutBuffer p = new PlayoutBuffer(0, 60_000, 3_000);
        int[] textChars = {5, 11, 18, 26};
        for (int seq = 0; seq < textChars.length; seq++) {
            p.offer(6, 1, seq, 24_000, tone(100, 24_000), false, textChars[seq]);
        }

        // When 11 packets (1760 samples) went out and the caller barges in
        poll(p, 11);

        // Then 220 ms were played, and chunk 1 (out whole at 1624) is the last whole one
        assertThat(p.stopAndReport()).isEqualTo(new PlayedPart(new TurnAttempt(6, 1), 220, 11));
        assertThat(p.offer(6, 1, 4, 24_000, tone(100, 24_000), false, 30)).isEqualTo(PlayoutBuffer.Outcome.STOPPED_TURN);
        assertThat(p.poll(PACKET)).isNull();
    }

    @Test
    void shouldBoundQueuedAudioIn8kHzSamplesWhateverTheRate() {
        PlayoutBuffer p = new PlayoutBuffer(0, 1_000, 3_000);
        assertThat(p.offer(1, 0, 0, 24_000, tone(900, 24_000), false, -1)).isEqualTo(PlayoutBuffer.Outcome.QUEUED);
        assertThat(p.offer(1, 0, 1, 24_000, tone(200, 24_000), false, -1)).isEqualTo(PlayoutBuffer.Outcome.OVERFLOW);
        assertThat(p.offer(1, 0, 2, 24_000, tone(100, 24_000), false, -1)).isEqualTo(PlayoutBuffer.Outcome.QUEUED);
    }

    @Test
    void shouldRefuseARateTheBridgeCannotPlayAndQueueNothing() {
        PlayoutBuffer p = new PlayoutBuffer(0, 60_000, 3_000);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> p.offer(1, 0, 0, 44_100, tone(100, 44_100), true, -1))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("44100 Hz");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> p.offer(1, 0, 0, 24_000, new byte[481], true, -1))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("even byte count");
        assertThat(p.isActive()).isFalse();
        assertThat(p.offer(1, 0, 0, 24_000, tone(100, 24_000), true, -1)).isEqualTo(PlayoutBuffer.Outcome.QUEUED);
    }

    @Test
    void shouldRefuseAChunkWhoseRateDiffersFromItsAttemptsEarlierChunks() {
        // Given an attempt that began at 24 kHz
        PlayoutBuffer p = new PlayoutBuffer(0, 60_000, 3_000);
        p.offer(2, 0, 0, 24_000, tone(100, 24_000), false, -1);

        // Then a 16 kHz chunk of the same attempt is refused, saying both rates, and the next 24 kHz one is taken
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> p.offer(2, 0, 1, 16_000, tone(100, 16_000), false, -1))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("16000 Hz").hasMessageContaining("24000 Hz");
        assertThat(p.offer(2, 0, 1, 24_000, tone(100, 24_000), true, -1)).isEqualTo(PlayoutBuffer.Outcome.QUEUED);
        // And a retry (attempt 1) of a turn that has not started may come at another rate
        PlayoutBuffer q = new PlayoutBuffer(200, 60_000, 3_000);
        q.offer(3, 0, 0, 16_000, tone(100, 16_000), false, -1);
        assertThat(q.offer(3, 1, 0, 24_000, tone(100, 24_000), true, -1)).isEqualTo(PlayoutBuffer.Outcome.QUEUED);
        assertThat(playAll(q)).hasSize(6 * PACKET);   // 800 + 48 flushed samples
    }

    private static double rms(short[] s, int from, int count) {
        double sum = 0;
        for (int i = from; i < from + count; i++) {
            sum += (double) s[i] * s[i];
        }
        return Math.sqrt(sum / count);
    }

    private static short[] samples(byte[] s16le) {
        short[] s = new short[s16le.length / 2];
        for (int i = 0; i < s.length; i++) {
            s[i] = (short) ((s16le[2 * i] & 0xFF) | (s16le[2 * i + 1] << 8));
        }
        return s;
    }

    private static short[] concat(short[] a, short[] b) {
        short[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    // ---- what was played when stopped (barge-in) -------------------------------------------------------

    /** 100 ms chunks: 800 samples at 8 kHz, 5 packets each; chunk k's sound has gone out after 800(k+1) + 24 samples. */
    private static PlayoutBuffer fourChunksVoicing(int... textChars) {
        PlayoutBuffer p = new PlayoutBuffer(0, 60_000, 3_000);
        for (int seq = 0; seq < textChars.length; seq++) {
            p.offer(6, 1, seq, chunk(100, (short) 1000), false, textChars[seq]);
        }
        return p;
    }

    private static void poll(PlayoutBuffer p, int packets) {
        for (int i = 0; i < packets; i++) {
            assertThat(p.poll(PACKET)).isNotNull();
        }
    }

    @Test
    void shouldReportThePlayedAudioAndTheTextOfTheLastChunkPlayedToItsEnd() {
        PlayoutBuffer p = fourChunksVoicing(5, 11, 18, 26);
        poll(p, 11);   // 1760 samples: chunks 0 (824) and 1 (1624) are out, chunk 2 (2424) is not

        assertThat(p.stopAndReport()).isEqualTo(new PlayedPart(new TurnAttempt(6, 1), 220, 11));
    }

    @Test
    void shouldNotCountAChunkWhoseLastSoundIsStillInTheResampler() {
        PlayoutBuffer p = fourChunksVoicing(5, 11, 18, 26);
        poll(p, 10);   // 1600 samples: chunk 1's input is all in, but its last 3 ms leave with the next samples

        assertThat(p.stopAndReport().playedTextChars()).isEqualTo(5);
    }

    @Test
    void shouldCountChunksInPlayOrderWhenTheyArriveOutOfOrder() {
        PlayoutBuffer p = new PlayoutBuffer(0, 60_000, 3_000);
        p.offer(6, 0, 1, chunk(100, (short) 2000), false, 11);
        p.offer(6, 0, 0, chunk(100, (short) 1000), false, 5);
        p.offer(6, 0, 2, chunk(100, (short) 3000), false, 18);
        poll(p, 6);    // 960 samples: chunk 0 only

        assertThat(p.stopAndReport().playedTextChars()).isEqualTo(5);
    }

    @Test
    void shouldReportNothingPlayedForATurnStoppedBeforeItStarted() {
        PlayoutBuffer p = new PlayoutBuffer(200, 60_000, 3_000);   // waits for 200 ms before playing
        p.offer(2, 0, 0, chunk(100, (short) 1000), false, 9);
        assertThat(p.poll(PACKET)).isNull();

        assertThat(p.stopAndReport()).isEqualTo(new PlayedPart(new TurnAttempt(2, 0), 0, 0));
        assertThat(p.stopAndReport()).as("idle now").isNull();
    }

    @Test
    void shouldSayUnknownWhenTheWorkerDidNotSayHowMuchTextAChunkVoices() {
        PlayoutBuffer p = new PlayoutBuffer(0, 60_000, 3_000);
        p.offer(3, 0, 0, chunk(100, (short) 1000), false);
        p.offer(3, 0, 1, chunk(100, (short) 1000), false);
        poll(p, 3);
        PlayoutBuffer q = new PlayoutBuffer(0, 60_000, 3_000);
        q.offer(3, 0, 0, chunk(100, (short) 1000), false);
        q.offer(3, 0, 1, chunk(100, (short) 1000), false);
        poll(q, 7);

        assertThat(p.stopAndReport().playedTextChars()).as("no chunk out yet").isZero();
        assertThat(q.stopAndReport().playedTextChars()).as("chunk 0 out, its text length unknown").isEqualTo(-1);
    }

    @Test
    void shouldReportTheStoppedTurnOnlyNotTheOneThatPlayedBefore() {
        PlayoutBuffer p = new PlayoutBuffer(0, 60_000, 3_000);
        p.offer(1, 0, 0, chunk(40, (short) 1000), true, 7);
        p.offer(2, 0, 0, chunk(100, (short) 1000), false, 12);
        p.offer(2, 0, 1, chunk(100, (short) 1000), false, 30);
        poll(p, 3 + 2);   // turn 1 whole (3 packets), then 2 packets of turn 2

        assertThat(p.stopAndReport()).isEqualTo(new PlayedPart(new TurnAttempt(2, 0), 40, 0));
    }

    // ---- speculative turns ----------------------------------------------------------------------------

    @Test
    void shouldHoldASpeculativeTurnUntilReleasedThenPlayItFromItsFirstChunk() {
        // Given a held speculative turn with its whole reply queued
        PlayoutBuffer p = new PlayoutBuffer(0, 60_000, 3_000);
        p.hold(3);
        p.offer(3, 1, 0, chunk(40, (short) 1000), false);
        p.offer(3, 1, 1, chunk(40, (short) 2000), true);
        // When the pacer asks for audio, nothing plays, and the turn does not count as playing (no barge-in)
        assertThat(p.poll(PACKET)).isNull();
        assertThat(p.isActive()).isFalse();
        assertThat(p.isHeld(3)).isTrue();
        // Then once released it plays from its first chunk, all of it
        p.release(3);
        PlayoutBuffer.Frame first = p.poll(PACKET);
        assertThat(first.turn().turnId()).isEqualTo(3);
        assertThat(first.firstOfTurn()).isTrue();
        assertThat(first.pcm8k()[PACKET / 2]).isEqualTo((short) 1000);
        assertThat(1 + drainPackets(p)).isEqualTo(5); // 80 ms + the resampler flush → 5 packets
    }

    @Test
    void shouldNeverPlayACancelledSpeculativeTurnAndRefuseItsLaterChunks() {
        PlayoutBuffer p = new PlayoutBuffer(0, 60_000, 3_000);
        p.hold(3);
        p.offer(3, 1, 0, chunk(40, (short) 1000), false);
        // When the caller goes on and the turn is cancelled
        assertThat(p.cancel(3)).isEqualTo(320);
        // Then nothing of it plays, now or from later chunks, and the next turn plays
        assertThat(p.offer(3, 1, 1, chunk(40, (short) 1000), true)).isEqualTo(PlayoutBuffer.Outcome.STOPPED_TURN);
        assertThat(p.offer(3, 2, 0, chunk(40, (short) 1000), true)).isEqualTo(PlayoutBuffer.Outcome.STOPPED_TURN);
        assertThat(p.poll(PACKET)).isNull();
        assertThat(p.offer(4, 1, 0, chunk(40, (short) 500), true)).isEqualTo(PlayoutBuffer.Outcome.QUEUED);
        assertThat(p.poll(PACKET).turn().turnId()).isEqualTo(4);
    }

    @Test
    void shouldLeaveAHeldTurnAloneWhenTheCallerBargesIntoTheReplyBeforeIt() {
        // Given turn 2 playing and speculative turn 3 held behind it
        PlayoutBuffer p = new PlayoutBuffer(0, 60_000, 3_000);
        p.offer(2, 1, 0, chunk(200, (short) 700), true);
        p.hold(3);
        p.offer(3, 1, 0, chunk(40, (short) 1000), true);
        p.poll(PACKET);
        // When the caller barges into turn 2
        PlayedPart stopped = p.stopAndReport();
        // Then turn 2 is reported and stopped; turn 3 stays held, to be confirmed or cancelled on its own
        assertThat(stopped.turn().turnId()).isEqualTo(2);
        assertThat(p.poll(PACKET)).isNull();
        p.release(3);
        assertThat(p.poll(PACKET).turn().turnId()).isEqualTo(3);
    }

    @Test
    void shouldLetARetryOfAHeldTurnReplaceTheCrashedAttempt() {
        // Given a held turn whose first attempt's worker died mid-reply
        PlayoutBuffer p = new PlayoutBuffer(0, 60_000, 3_000);
        p.hold(5);
        p.offer(5, 1, 0, chunk(40, (short) 1000), false);
        // When the redo (attempt 2) arrives and the turn is confirmed
        p.offer(5, 2, 0, chunk(40, (short) 3000), true);
        p.release(5);
        // Then the redo plays from its start, as for a crash during a reply that had not begun playing
        PlayoutBuffer.Frame f = p.poll(PACKET);
        assertThat(f.turn()).isEqualTo(new TurnAttempt(5, 2));
        assertThat(f.pcm8k()[PACKET / 2]).isEqualTo((short) 3000);
    }
}
