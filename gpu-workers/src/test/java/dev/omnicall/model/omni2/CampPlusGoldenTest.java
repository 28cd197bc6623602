package dev.omnicall.model.omni2;

import static dev.omnicall.model.omni2.CampPlusFixture.VOICE_A;
import static dev.omnicall.model.omni2.CampPlusFixture.VOICE_B;
import static dev.omnicall.model.omni2.CampPlusFixture.flat;
import static dev.omnicall.model.omni2.CampPlusFixture.maxAbsDiff;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.omnicall.model.PythonOracle;
import dev.omnicall.model.io.CheckpointException;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The speaker front end against Debian PyTorch (src/test/resources/oracle/omni2/campplus.py): KaldiFbank against
 * torchaudio.compliance.kaldi.fbank(num_mel_bins=80, dither=0, sample_frequency=16000) on the same WAVs, and the
 * x-vector through ONNX Runtime against torch running the same tiny CAM++-shaped network. Skipped without the oracle.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class CampPlusGoldenTest {
    /**
     * Log mel energies against torchaudio in float32 (CosyVoice's): Java computes the signal path in double, and
     * torch's float32 FFT moves the log of a weak bin (e^-13 next to a loud one) by up to ~1e-3 (observed 5.4e-4 and
     * 7.2e-4 on voice B in two oracle runs; torchaudio float32 vs its own float64: 5.4e-4).
     */
    static final float FBANK_TOLERANCE = 2e-3f;
    /**
     * The tight check: against torchaudio run in float64 on the same 16 kHz samples (stored as float32). 8.5e-6 on
     * 16 kHz prompts; 2.9e-5 on the resampled one, whose samples differ from torch's float32 conv by ~1e-7.
     */
    static final float FBANK64_TOLERANCE = 1e-4f;
    /** 16 kHz samples after resampling (torch: float32 conv1d; Java: double sums of the float32 kernel). */
    static final float RESAMPLE_TOLERANCE = 1e-5f;
    /** ORT vs torch, same network and the same input (float32 both). */
    static final float SAME_INPUT_TOLERANCE = 1e-4f;
    /** From the WAV: the fbank difference above carried through the network. */
    static final float FROM_WAV_TOLERANCE = 1e-3f;

    private CampPlusFixture fixture;

    @BeforeAll
    void runOracle() throws Exception {
        Assumptions.assumeTrue(PythonOracle.torchAvailable(), "Debian /usr/bin/python3 with torch is not available");
        fixture = CampPlusFixture.get();
    }

    @Test
    void shouldMatchTorchaudioKaldiFbankOnEveryPrompt() {
        KaldiFbank fbank = KaldiFbank.campPlus();
        for (int i = 0; i < CampPlusFixture.WAVS.length; i++) {
            // Given the WAV as the worker reads it
            float[] wave = CampPlusSpeaker.readPromptWav(fixture.wav(i));
            // When the fbank and the mean-normalised features are computed
            float[][] raw = fbank.compute(wave);
            float[][] feat = fbank.campPlusFeatures(wave);
            // Then frames and values are torchaudio's
            assertThat(new long[] {raw.length, 80}).containsExactly(fixture.shape("fbank", i));
            float rawDiff = maxAbsDiff(flat(raw), fixture.torch("fbank", i));
            float featDiff = maxAbsDiff(flat(feat), fixture.torch("feat", i));
            float diff64 = maxAbsDiff(flat(raw), fixture.torch("fbank64", i));
            System.out.printf("fbank %s (%d frames) vs torchaudio: max abs diff %.3g, mean-normalised %.3g;"
                    + " vs torchaudio in float64 %.3g%n", CampPlusFixture.WAVS[i], raw.length, rawDiff, featDiff, diff64);
            assertThat(diff64).isLessThan(FBANK64_TOLERANCE);
            assertThat(rawDiff).isLessThan(FBANK_TOLERANCE);
            assertThat(featDiff).isLessThan(FBANK_TOLERANCE);
        }
        // The silent stretch of voice A reached the floor in both
        float floor = (float) Math.log(KaldiFbank.FLOOR);
        float[] torchA = fixture.torch("fbank", VOICE_A);
        assertThat(torchA).contains(floor);
    }

    @Test
    void shouldReadAndResampleEveryPromptAsCosyVoicesLoadWav() {
        for (int i = 0; i < CampPlusFixture.WAVS.length; i++) {
            float[] wave = CampPlusSpeaker.readPromptWav(fixture.wav(i));
            float[] torch = fixture.torch("wave16k", i);
            float diff = maxAbsDiff(wave, torch);
            System.out.printf("16 kHz samples of %s vs torchaudio: %d, max abs diff %.3g%n", CampPlusFixture.WAVS[i],
                    wave.length, diff);
            if (i == CampPlusFixture.VOICE_C_22050_FLOAT || i == CampPlusFixture.VOICE_D_24000) {
                assertThat(diff).isLessThan(RESAMPLE_TOLERANCE);
                assertThat(wave.length).isEqualTo((int) Math.ceil(30000 * 16000.0 / (i == 4 ? 22050 : 24000)));
            } else {
                assertThat(wave).containsExactly(torch); // 16-bit at 16 kHz: sample / 32768, exactly
            }
        }
    }

    @Test
    void shouldMatchTorchOnTheSameFbank() {
        // Given torch's own features for voice A
        float[] feat = fixture.torch("feat", VOICE_A);
        float[][] rows = new float[feat.length / 80][80];
        for (int t = 0; t < rows.length; t++) {
            System.arraycopy(feat, t * 80, rows[t], 0, 80);
        }
        // When ONNX Runtime runs the exported network on them
        float[] xvector = CampPlusSpeaker.embed(fixture.onnx, rows);
        // Then it gives torch's x-vector
        float diff = maxAbsDiff(xvector, fixture.torch("xvector", VOICE_A));
        System.out.printf("x-vector, ORT vs torch on the same fbank: max abs diff %.3g%n", diff);
        assertThat(xvector).hasSize(192);
        assertThat(diff).isLessThan(SAME_INPUT_TOLERANCE);
    }

    @Test
    void shouldMatchTorchFromTheWavAndTellTheVoicesApart() {
        float[] a = CampPlusSpeaker.xvector(fixture.onnx, fixture.wav(VOICE_A));
        float[] b = CampPlusSpeaker.xvector(fixture.onnx, fixture.wav(VOICE_B));
        float[] c = CampPlusSpeaker.xvector(fixture.onnx, fixture.wav(CampPlusFixture.VOICE_C_22050_FLOAT));
        float diffA = maxAbsDiff(a, fixture.torch("xvector", VOICE_A));
        float diffB = maxAbsDiff(b, fixture.torch("xvector", VOICE_B));
        float diffC = maxAbsDiff(c, fixture.torch("xvector", CampPlusFixture.VOICE_C_22050_FLOAT));
        float between = maxAbsDiff(a, b);
        System.out.printf("x-vector from the WAV vs torch: A %.3g, B %.3g, C (22.05 kHz float) %.3g; A vs B %.3g%n",
                diffA, diffB, diffC, between);
        assertThat(diffA).isLessThan(FROM_WAV_TOLERANCE);
        assertThat(diffB).isLessThan(FROM_WAV_TOLERANCE);
        assertThat(diffC).isLessThan(FROM_WAV_TOLERANCE);
        assertThat(between).isGreaterThan(100 * FROM_WAV_TOLERANCE);
    }

    @Test
    void shouldRefuseAModelWhoseInputIsNotFramesBy80() {
        // Given a network exported channels first: input [batch, 80, frames]
        assertThatThrownBy(() -> CampPlusSpeaker.xvector(fixture.channelsFirstOnnx, fixture.wav(VOICE_A)))
                .isInstanceOf(CheckpointException.class)
                .hasMessageContaining(fixture.channelsFirstOnnx.toString())
                .hasMessageContaining("[-1, 80, -1]")
                .hasMessageContaining("[1, frames, 80]");
    }
}
