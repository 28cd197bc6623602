package dev.omnicall.bridge.vad;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.Arrays;
import org.junit.jupiter.api.Test;

class EnergyVadTest {

    private static float maxProbability(Vad vad, short[] pcm) {
        float max = 0;
        for (int at = 0; at + Vad.FRAME_SAMPLES <= pcm.length; at += Vad.FRAME_SAMPLES) {
            max = Math.max(max, vad.speechProbability(Arrays.copyOfRange(pcm, at, at + Vad.FRAME_SAMPLES)));
        }
        return max;
    }

    @Test
    void shouldRateDigitalSilenceAndLineNoiseAsNotSpeech() {
        EnergyVad vad = new EnergyVad();
        assertThat(maxProbability(vad, new short[16000])).isZero();
        assertThat(maxProbability(vad, Speech.lineNoise(16000, 7))).isLessThan(0.1f);
    }

    @Test
    void shouldRateSpeechAfterQuietLineAsSpeech() throws Exception {
        assumeTrue(Speech.toolsAvailable(), "espeak-ng and sox are needed");
        EnergyVad vad = new EnergyVad();
        maxProbability(vad, Speech.lineNoise(16000, 3)); // learn the floor
        short[] speech = Speech.say("Good morning, how can I help you?", 16000);
        assertThat(maxProbability(vad, speech)).isGreaterThan(0.9f);
    }

    @Test
    void shouldMeasureFullScaleSquareAtZeroDbfs() {
        short[] square = new short[512];
        for (int i = 0; i < square.length; i++) {
            square[i] = (short) (i % 2 == 0 ? 32767 : -32768);
        }
        assertThat(EnergyVad.levelDbfs(square)).isBetween(-0.01, 0.01);
    }
}
