package dev.omnicall.bridge.media;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.omnicall.bridge.media.EndOfTurnEstimator.Reason;
import java.util.Random;
import org.junit.jupiter.api.Test;

class EndOfTurnEstimatorTest {
    private static final int FRAME = 512;
    private static final long T0 = 1_700_000_000_000_000L;
    private static final AdaptiveEndOfTurn BOUNDS = AdaptiveEndOfTurn.between(400, 1000);

    /**
     * A voice-like tone: harmonics 1..12 at 1/k, the fundamental gliding from {@code fromHz} to {@code toHz}
     * (geometrically) over {@code frames} frames of 32 ms, phase continuous.
     */
    static short[][] voice(int frames, double fromHz, double toHz) {
        short[][] out = new short[frames][FRAME];
        int total = frames * FRAME;
        double phase = 0;
        for (int n = 0; n < total; n++) {
            double hz = fromHz * Math.pow(toHz / fromHz, (double) n / total);
            phase += 2 * Math.PI * hz / 16_000;
            double v = 0;
            for (int k = 1; k <= 12; k++) {
                v += Math.sin(k * phase) / k;
            }
            out[n / FRAME][n % FRAME] = (short) (4000 * v);
        }
        return out;
    }

    private static EndOfTurnEstimator speak(AdaptiveEndOfTurn bounds, short[][] frames) {
        EndOfTurnEstimator e = new EndOfTurnEstimator(500, bounds);
        e.utteranceStarted();
        for (short[] f : frames) {
            e.voiced(f);
        }
        return e;
    }

    @Test
    void shouldFindThePitchOfAHarmonicToneWithinOnePercent() {
        for (double hz : new double[] {80, 110, 150, 220, 300, 450}) {
            short[] frame = voice(1, hz, hz)[0];
            assertThat(EndOfTurnEstimator.pitchHz(frame)).as("%s Hz", hz).isCloseTo(hz, org.assertj.core.data.Percentage.withPercentage(1));
        }
    }

    @Test
    void shouldFindNoPitchInNoiseOrSilence() {
        Random random = new Random(3);
        short[] noise = new short[FRAME];
        for (int i = 0; i < FRAME; i++) {
            noise[i] = (short) (random.nextGaussian() * 3000);
        }
        assertThat(EndOfTurnEstimator.pitchHz(noise)).isZero();
        assertThat(EndOfTurnEstimator.pitchHz(new short[FRAME])).isZero();
    }

    @Test
    void shouldWaitTheShortestAfterAFallingEnd() {
        // Given 800 ms of voice whose pitch falls from 180 to 120 Hz (-7 semitones)
        EndOfTurnEstimator e = speak(BOUNDS, voice(25, 180, 120));
        // Then the pause after it needs only the shortest wait
        assertThat(e.decide(T0)).isEqualTo(new EndOfTurnEstimator.Decision(400, Reason.FINISHED));
        assertThat(e.lastTail().pitchTrendSt()).isLessThan(-1.5);
    }

    @Test
    void shouldNotShortenAfterAFallingEndThatIsTooShortToBeAPhrase() {
        // Given only 320 ms of voice (a "no", a "yes", or the start of something)
        EndOfTurnEstimator e = speak(BOUNDS, voice(10, 180, 120));
        assertThat(e.decide(T0)).isEqualTo(new EndOfTurnEstimator.Decision(500, Reason.BASE));
    }

    @Test
    void shouldWaitTheLongestAfterAVoiceHeldLevel() {
        // Given a level 140 Hz voice to the end (a held "uhhh")
        EndOfTurnEstimator e = speak(BOUNDS, voice(25, 140, 140));
        assertThat(e.decide(T0)).isEqualTo(new EndOfTurnEstimator.Decision(1000, Reason.UNFINISHED));
    }

    @Test
    void shouldKeepTheBaseWaitAfterARisingEnd() {
        // a rise ends a yes/no question as often as a list item: neither shorter nor longer
        EndOfTurnEstimator e = speak(BOUNDS, voice(25, 120, 180));
        assertThat(e.decide(T0)).isEqualTo(new EndOfTurnEstimator.Decision(500, Reason.BASE));
    }

    @Test
    void shouldWaitTheLongestForFourSecondsAfterADtmfDigit() {
        // Given a clearly finished phrase, but a key pressed just before
        EndOfTurnEstimator e = speak(BOUNDS, voice(25, 180, 120));
        e.dtmf(T0);
        assertThat(e.decide(T0 + 3_900_000)).isEqualTo(new EndOfTurnEstimator.Decision(1000, Reason.DTMF));
        // and once the keypad has been quiet for longer, the phrase decides again
        assertThat(e.decide(T0 + 4_100_000)).isEqualTo(new EndOfTurnEstimator.Decision(400, Reason.FINISHED));
    }

    @Test
    void shouldGiveACallerWhoPausedAndWentOnThatPauseAndAMarginFromThenOn() {
        // Given a caller who went on after 700 ms of silence
        EndOfTurnEstimator e = speak(BOUNDS, voice(25, 180, 120));
        e.resumedAfter(700);
        // Then even a finished-sounding end waits 700 + 150 ms, in this and later utterances
        assertThat(e.decide(T0)).isEqualTo(new EndOfTurnEstimator.Decision(850, Reason.PAUSING));
        e.utteranceStarted();
        for (short[] f : voice(25, 180, 120)) {
            e.voiced(f);
        }
        assertThat(e.decide(T0)).isEqualTo(new EndOfTurnEstimator.Decision(850, Reason.PAUSING));
    }

    @Test
    void shouldStayWithinTheBounds() {
        // a pause just under the longest wait, plus the margin, is still the longest wait
        EndOfTurnEstimator e = speak(BOUNDS, voice(25, 120, 180));
        e.resumedAfter(990);
        assertThat(e.decide(T0)).isEqualTo(new EndOfTurnEstimator.Decision(1000, Reason.PAUSING));
        // a pause longer than the longest wait is a new turn, not a cut: it does not count
        EndOfTurnEstimator f = speak(BOUNDS, voice(25, 120, 180));
        f.resumedAfter(1500);
        assertThat(f.decide(T0)).isEqualTo(new EndOfTurnEstimator.Decision(500, Reason.BASE));
        // bounds tighter than the rules' wishes hold: min 450 for a finished end, max 600 for a level one
        AdaptiveEndOfTurn tight = AdaptiveEndOfTurn.between(450, 600);
        assertThat(speak(tight, voice(25, 180, 120)).decide(T0).silenceMs()).isEqualTo(450);
        assertThat(speak(tight, voice(25, 140, 140)).decide(T0).silenceMs()).isEqualTo(600);
    }

    @Test
    void shouldAlwaysGiveTheFixedWaitWhenOff() {
        for (short[][] v : new short[][][] {voice(25, 180, 120), voice(25, 140, 140), voice(25, 120, 180)}) {
            EndOfTurnEstimator e = speak(AdaptiveEndOfTurn.OFF, v);
            e.dtmf(T0);
            e.resumedAfter(900);
            assertThat(e.decide(T0)).isEqualTo(new EndOfTurnEstimator.Decision(500, Reason.FIXED));
        }
    }

    @Test
    void shouldRefuseBoundsOutOfRangeOrOutOfOrderWithTheirValues() {
        assertThatThrownBy(() -> AdaptiveEndOfTurn.between(50, 1000)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("50..1000").hasMessageContaining("100 <= min <= max <= 10000");
        assertThatThrownBy(() -> AdaptiveEndOfTurn.between(800, 600)).hasMessageContaining("800..600");
        assertThatThrownBy(() -> AdaptiveEndOfTurn.between(400, 20_000)).hasMessageContaining("400..20000");
        // the fixed wait must lie within the bounds, and a speculative silence below the shortest wait
        SegmenterConfig base = SegmenterConfig.defaults().withEndOfUtteranceSilenceMs(500);
        assertThatThrownBy(() -> base.withAdaptiveEndOfTurn(AdaptiveEndOfTurn.between(600, 1000)))
                .hasMessageContaining("endOfUtteranceSilenceMs 500 is outside the adaptive end-of-turn bounds 600..1000");
        assertThatThrownBy(() -> base.withSpeculativeSilenceMs(450).withAdaptiveEndOfTurn(BOUNDS))
                .hasMessageContaining("speculativeSilenceMs 450").hasMessageContaining("shortest adaptive silence (400 ms)");
        assertThat(base.withSpeculativeSilenceMs(200).withAdaptiveEndOfTurn(BOUNDS).adaptive()).isEqualTo(BOUNDS);
    }
}
