package dev.omnicall.bridge.vad;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.TensorInfo;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Silero VAD on real synthetic speech. The model comes from the build (npm); without it these tests are
 * skipped with the reason, and the fallback test in VadFactoryTest covers the bridge's behaviour.
 */
class SileroVadTest {
    private static SileroModel model;

    @BeforeAll
    static void load() throws Exception {
        model = SileroTestModel.loadOrSkip();
    }

    @AfterAll
    static void close() {
        SileroTestModel.close(model);
    }

    private static float[] probabilities(Vad vad, short[] pcm) {
        int frames = pcm.length / Vad.FRAME_SAMPLES;
        float[] p = new float[frames];
        for (int f = 0; f < frames; f++) {
            p[f] = vad.speechProbability(Arrays.copyOfRange(pcm, f * Vad.FRAME_SAMPLES, (f + 1) * Vad.FRAME_SAMPLES));
        }
        return p;
    }

    @Test
    void shouldExposeTheInputsTheCodeFeeds() throws Exception {
        Map<String, NodeInfo> inputs = model.inputInfo();
        assertThat(inputs).containsKeys("input", "state", "sr");
        assertThat(((TensorInfo) inputs.get("state").getInfo()).getShape()).containsExactly(2, -1, 128);
    }

    @Test
    void shouldHearEspeakSpeechAsSpeech() throws Exception {
        assumeTrue(Speech.toolsAvailable(), "espeak-ng and sox are needed");
        short[] speech = Speech.say("Hello, I would like to book a table for two people tomorrow evening.", 16000);
        try (SileroVad vad = model.newVad()) {
            float[] p = probabilities(vad, speech);
            long voiced = countAbove(p, 0.5f);
            assertThat(voiced).as("frames over 0.5 of %d", p.length).isGreaterThan(p.length / 2);
            assertThat(max(p)).isGreaterThan(0.9f);
        }
    }

    @Test
    void shouldHearSilenceAndLineNoiseAsNotSpeech() {
        try (SileroVad vad = model.newVad()) {
            float[] quiet = probabilities(vad, new short[16000]);
            float[] noise = probabilities(vad, Speech.lineNoise(32000, 1));
            // the onset of noise scores about 0.2 for a frame or two: still under the 0.35 end threshold
            assertThat(max(quiet)).isLessThan(0.05f);
            assertThat(max(noise)).isLessThan(0.35f);
        }
    }

    @Test
    void shouldCarryStateSoSpeechAfterSilenceIsDetectedAndThenReleased() throws Exception {
        assumeTrue(Speech.toolsAvailable(), "espeak-ng and sox are needed");
        short[] speech = Speech.say("Yes, that is correct.", 16000);
        short[] call = Speech.concat(new short[16000], speech, new short[24000]);
        try (SileroVad vad = model.newVad()) {
            float[] p = probabilities(vad, call);
            int speechStartFrame = 16000 / Vad.FRAME_SAMPLES;
            int speechEndFrame = (16000 + speech.length) / Vad.FRAME_SAMPLES;
            assertThat(max(Arrays.copyOfRange(p, 0, speechStartFrame))).isLessThan(0.2f);
            assertThat(max(Arrays.copyOfRange(p, speechStartFrame, speechEndFrame))).isGreaterThan(0.9f);
            assertThat(max(Arrays.copyOfRange(p, speechEndFrame + 15, p.length))).isLessThan(0.2f);
        }
    }

    private static long countAbove(float[] p, float t) {
        long n = 0;
        for (float v : p) {
            if (v > t) {
                n++;
            }
        }
        return n;
    }

    static float max(float[] p) {
        float m = 0;
        for (float v : p) {
            m = Math.max(m, v);
        }
        return m;
    }
}
