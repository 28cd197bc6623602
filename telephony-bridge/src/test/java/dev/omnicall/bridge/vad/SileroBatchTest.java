package dev.omnicall.bridge.vad;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.Arrays;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Silero batched across calls (one ONNX Runtime run for a frame of each) against one run per call. */
class SileroBatchTest {
    private static SileroModel model16k;
    private static SileroModel model8k;

    @BeforeAll
    static void load() throws Exception {
        model16k = SileroTestModel.loadOrSkip(SileroModel.RATE_16K);
        model8k = SileroTestModel.loadOrSkip(SileroModel.RATE_8K);
    }

    @AfterAll
    static void close() {
        SileroTestModel.close(model16k);
        SileroTestModel.close(model8k);
    }

    @ParameterizedTest(name = "Silero at {0} Hz")
    @ValueSource(ints = {16000, 8000})
    void shouldGiveEachCallTheProbabilitiesItsOwnRunsGive(int rate) throws Exception {
        SileroModel model = rate == 16000 ? model16k : model8k;
        assumeTrue(Speech.toolsAvailable(), "espeak-ng and sox are needed");
        // Given four calls hearing different things: speech, line noise then speech, silence, other speech
        short[] a = Speech.concat(Speech.say("I would like to change my booking to Friday.", 16000), new short[16000]);
        short[] b = Speech.concat(Speech.lineNoise(16000, 7), Speech.say("Yes, please.", 16000), new short[32000]);
        short[] c = new short[a.length];
        short[] d = Speech.concat(new short[8000], Speech.say("Four people, at eight.", 16000), new short[16000]);
        short[][] calls = {a, b, c, d};
        int frames = Arrays.stream(calls).mapToInt(x -> x.length / Vad.FRAME_SAMPLES).min().orElseThrow();

        // When each runs alone (the reference: one ONNX Runtime run per frame, input built by the test; and the
        // call's own SileroVad), and all four run batched frame by frame (one call sits out every third frame, as a
        // call whose frame is not due yet would)
        float[][] alone = new float[4][];
        for (int k = 0; k < 4; k++) {
            alone[k] = SileroTestModel.referenceProbabilities(model, calls[k]);
            try (SileroVad vad = model.newVad()) {
                for (int f = 0; f < frames; f++) {
                    assertThat(vad.speechProbability(frame(calls[k], f))).as("call %d frame %d, its own VAD", k, f)
                            .isCloseTo(alone[k][f], org.assertj.core.data.Offset.offset(1e-4f));
                }
            }
        }
        float[][] batched = new float[4][frames];
        SileroVad[] vads = {model.newVad(), model.newVad(), model.newVad(), model.newVad()};
        int[] next = new int[4];
        int runs = 0;
        while (Arrays.stream(next).anyMatch(n -> n < frames)) {
            int sitOut = runs % 3 == 2 ? runs % 4 : -1;
            java.util.List<Integer> due = new java.util.ArrayList<>();
            for (int k = 0; k < 4; k++) {
                if (next[k] < frames && k != sitOut) {
                    due.add(k);
                }
            }
            if (due.isEmpty()) {
                due.add(sitOut);
            }
            SileroVad[] rowVads = due.stream().map(k -> vads[k]).toArray(SileroVad[]::new);
            short[][] rowFrames = due.stream().map(k -> frame(calls[k], next[k])).toArray(short[][]::new);
            float[] p = model.speechProbabilities(rowVads, rowFrames);
            for (int i = 0; i < due.size(); i++) {
                int k = due.get(i);
                batched[k][next[k]++] = p[i];
            }
            runs++;
        }

        // Then every probability of every call is the same within float rounding
        for (int k = 0; k < 4; k++) {
            for (int f = 0; f < frames; f++) {
                assertThat(batched[k][f]).as("call %d frame %d", k, f).isCloseTo(alone[k][f], org.assertj.core.data.Offset.offset(1e-4f));
            }
        }
        assertThat(runs).isLessThan(4 * frames / 2);
        assertThat(max(alone[0])).isGreaterThan(0.9f);
        assertThat(max(alone[2])).isLessThan(0.05f);
    }

    private static short[] frame(short[] pcm, int f) {
        return Arrays.copyOfRange(pcm, f * Vad.FRAME_SAMPLES, (f + 1) * Vad.FRAME_SAMPLES);
    }

    private static float max(float[] p) {
        float m = 0;
        for (float x : p) {
            m = Math.max(m, x);
        }
        return m;
    }
}
