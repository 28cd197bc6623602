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
}
