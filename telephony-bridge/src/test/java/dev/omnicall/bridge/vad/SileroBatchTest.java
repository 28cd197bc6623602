package dev.omnicall.bridge.vad;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.Arrays;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Silero batched across calls (one ONNX Runtime run for a frame of each) against one run per call. */
class SileroBatchTest {
    private static SileroModel model;

    @BeforeAll
    static void load() throws Exception {
        model = SileroTestModel.loadOrSkip();
    }

    @AfterAll
    static void close() {
        SileroTestModel.close(model);
    }

    @Test
    void shouldGiveEachCallTheProbabilitiesItsOwnRunsGive() throws Exception {
        assumeTrue(Speech.toolsAvailable(), "espeak-ng and sox are needed");
        // Given four calls hearing different things: speech, line noise then speech, silence, other speech
        short[] a = Speech.concat(Speech.say("I would like to change my booking to Friday.", 16000), new short[16000]);
        short[] b = Speech.concat(Speech.lineNoise(16000, 7), Speech.say("Yes, please.", 16000), new short[32000]);
        short[] c = new short[a.length];
        short[] d = Speech.concat(new short[8000], Speech.say("Four people, at eight.", 16000), new short[16000]);
        short[][] calls = {a, b, c, d};
        int frames = Arrays.stream(calls).mapToInt(x -> x.length / Vad.FRAME_SAMPLES).min().orElseThrow();

        // When each runs alone, and all four run batched frame by frame (one call sits out every third frame,
        // as a call whose frame is not due yet would)
        float[][] alone = new float[4][frames];
        for (int k = 0; k < 4; k++) {
            try (SileroVad vad = model.newVad()) {
                for (int f = 0; f < frames; f++) {
                    alone[k][f] = vad.speechProbability(frame(calls[k], f));
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
