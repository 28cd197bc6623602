package dev.omnicall.bridge.vad;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.omnicall.bridge.codec.MuLaw;
import dev.omnicall.bridge.codec.Upsampler8To16;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Silero at 8 kHz (every other sample of the bridge's 16 kHz frames) against Silero at 16 kHz, on what the bridge
 * hears: espeak-ng speech at 8 kHz through μ-law and the 8→16 kHz upsampler, with digital silence and line noise.
 * Stated tolerance: at most 6 % of frames change side of the segmenter's thresholds (speech p ≥ 0.5, silence
 * p < 0.35) and at most 2 % go from one side to the other; the segmenter cuts the same utterances, starts within two
 * frames (64 ms) and ends within four (128 ms). (Measured on three callers: 2.3–5.2 % of frames change side, mostly
 * short gaps inside words that the 8 kHz model bridges; 1.2–1.7 % opposite.)
 */
class SileroRateTest {
    private static SileroModel at16k;
    private static SileroModel at8k;

    @BeforeAll
    static void load() throws Exception {
        at16k = SileroTestModel.loadOrSkip(SileroModel.RATE_16K);
        at8k = SileroTestModel.loadOrSkip(SileroModel.RATE_8K);
    }

    @AfterAll
    static void close() {
        SileroTestModel.close(at16k);
        SileroTestModel.close(at8k);
    }

    /** A caller as the bridge hears one: 8 kHz speech, silence and line noise through μ-law, then upsampled. */
    private static short[] caller(String first, String second, String third) throws Exception {
        short[] a = Speech.say(first, 8000);
        short[] b = Speech.say(second, 8000);
        short[] c = Speech.say(third, 8000);
        short[] call = Speech.concat(new short[8000], a, Speech.lineNoise(12000, 1), b, new short[6000],
                Speech.lineNoise(4000, 2), b, new short[10000], c, Speech.lineNoise(16000, 3));
        return new Upsampler8To16().process(MuLaw.INSTANCE.decode(MuLaw.INSTANCE.encode(call)));
    }

    private static float[] probabilities(SileroModel model, short[] pcm) {
        float[] p = new float[pcm.length / Vad.FRAME_SAMPLES];
        try (SileroVad vad = model.newVad()) {
            for (int f = 0; f < p.length; f++) {
                p[f] = vad.speechProbability(Arrays.copyOfRange(pcm, f * Vad.FRAME_SAMPLES, (f + 1) * Vad.FRAME_SAMPLES));
            }
        }
        return p;
    }

    @Test
    void shouldDecideAsTheSixteenKilohertzModelWithinTheStatedTolerance() throws Exception {
        assumeTrue(Speech.toolsAvailable(), "espeak-ng and sox are needed");
        String[][] callers = {
                {"Hello, I would like to book a table for two people tomorrow evening.", "Four. No, wait, five people.", "Yes."},
                {"I would like to change my booking to Friday evening, for four people please.",
                        "What time do you open on Sunday?", "No."},
                {"My account number is four seven two, nine nine one.", "Can you hear me? Hello?", "Thank you, goodbye."}};
        for (String[] sentences : callers) {
            short[] call = caller(sentences[0], sentences[1], sentences[2]);
            float[] wide = probabilities(at16k, call);
            float[] narrow = probabilities(at8k, call);
            // the 8 kHz VAD is what the reference computes at 8 kHz (its own input, one run per frame)
            float[] reference = SileroTestModel.referenceProbabilities(at8k, call);
            for (int f = 0; f < narrow.length; f++) {
                assertThat(narrow[f]).as("frame %d vs the reference", f).isCloseTo(reference[f], Offset.offset(1e-4f));
            }
            int changed = 0;
            int opposite = 0;
            for (int f = 0; f < wide.length; f++) {
                changed += side(wide[f]) != side(narrow[f]) ? 1 : 0;
                opposite += side(wide[f]) * side(narrow[f]) == -1 ? 1 : 0;
            }
            List<long[]> expected = EnergyGatedVadTest.utterances(call, wide);
            List<long[]> actual = EnergyGatedVadTest.utterances(call, narrow);
            System.out.printf("8 vs 16 kHz: %d of %d frames change side, %d opposite; utterances %d vs %d%n", changed,
                    wide.length, opposite, actual.size(), expected.size());
            assertThat(changed).as("frames on another side").isLessThanOrEqualTo(wide.length * 6 / 100);
            assertThat(opposite).as("frames on the opposite side").isLessThanOrEqualTo(wide.length * 2 / 100);
            assertThat(actual).hasSameSizeAs(expected);
            for (int i = 0; i < expected.size(); i++) {
                assertThat(actual.get(i)[0]).as("utterance %d start", i)
                        .isCloseTo(expected.get(i)[0], Offset.offset(2 * Vad.FRAME_MICROS));
                assertThat(actual.get(i)[1]).as("utterance %d end", i)
                        .isCloseTo(expected.get(i)[1], Offset.offset(4 * Vad.FRAME_MICROS));
            }
        }
    }

    @Test
    void shouldHearSilenceAndLineNoiseAsNotSpeechAtEightKilohertz() {
        short[] quiet = Speech.concat(new short[16000], Speech.lineNoise(48000, 9));
        for (float p : probabilities(at8k, quiet)) {
            assertThat(p).isLessThan(0.35f);
        }
    }

    @Test
    void shouldRefuseOtherRates() {
        Optional<java.nio.file.Path> path = VadFactory.locateModel();
        assumeTrue(path.isPresent());
        assertThatThrownBy(() -> SileroModel.load(path.get(), 44_100)).hasMessageContaining("16000 or 8000 Hz, not 44100");
        assertThatThrownBy(() -> VadFactory.create(path, 11_025)).hasMessageContaining("16000 or 8000 Hz, not 11025");
    }

    private static int side(float p) {
        return p >= 0.5f ? 1 : p < 0.35f ? -1 : 0;
    }
}
