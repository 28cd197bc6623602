package dev.omnicall.model.omni2;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** KaldiFbank on its own (no oracle): the FFT against a plain DFT, framing, the floor, the filters, the mean. */
class KaldiFbankTest {
    private final KaldiFbank fbank = KaldiFbank.campPlus();

    @Test
    void shouldMatchAPlainDftOnEveryBin() {
        // Given a frame of noise as the fbank prepares it
        SplittableRandom r = new SplittableRandom(3);
        float[] wave = new float[KaldiFbank.WINDOW];
        for (int i = 0; i < wave.length; i++) {
            wave[i] = (float) r.nextGaussian();
        }
        double[] re = new double[KaldiFbank.FFT];
        fbank.frame(wave, 0, re);
        double[] x = re.clone();
        double[] im = new double[KaldiFbank.FFT];
        // When the radix-2 FFT runs
        KaldiFbank.fft(re, im);
        // Then every bin equals the O(n^2) DFT sum_n x[n] e^{-2 pi i k n / N}
        double worst = 0;
        for (int k = 0; k <= KaldiFbank.FFT / 2; k++) {
            double sr = 0;
            double si = 0;
            for (int n = 0; n < x.length; n++) {
                double a = -2 * Math.PI * k * n / KaldiFbank.FFT;
                sr += x[n] * Math.cos(a);
                si += x[n] * Math.sin(a);
            }
            worst = Math.max(worst, Math.max(Math.abs(sr - re[k]), Math.abs(si - im[k])));
        }
        assertThat(worst).isLessThan(1e-9);
    }

    @Test
    void shouldCountOnlyWholeWindows() {
        // snip_edges: 1 + (N - 400) / 160 frames, none below one window
        assertThat(KaldiFbank.frames(399)).isZero();
        assertThat(KaldiFbank.frames(400)).isEqualTo(1);
        assertThat(KaldiFbank.frames(559)).isEqualTo(1);
        assertThat(KaldiFbank.frames(560)).isEqualTo(2);
        assertThat(KaldiFbank.frames(16000)).isEqualTo(98);
        assertThat(fbank.compute(new float[16000])).hasNumberOfRows(98);
        assertThatThrownBy(() -> fbank.compute(new float[399])).hasMessageContaining("400 samples");
    }

    @Test
    void shouldFloorSilenceAtFloatEpsilon() {
        float[][] f = fbank.compute(new float[800]);
        for (float[] row : f) {
            for (float v : row) {
                assertThat(v).isEqualTo((float) Math.log(KaldiFbank.FLOOR));
            }
        }
    }

    @Test
    void shouldPutAToneIntoTheFilterCentredNearItsFrequency() {
        // Given a 1 kHz tone
        float[] wave = new float[4000];
        for (int i = 0; i < wave.length; i++) {
            wave[i] = (float) (0.5 * Math.sin(2 * Math.PI * 1000 * i / 16000.0));
        }
        // Then the loudest filter is the one whose mel centre is nearest 1 kHz's
        float[] row = fbank.compute(wave)[5];
        int loudest = 0;
        for (int m = 1; m < row.length; m++) {
            if (row[m] > row[loudest]) {
                loudest = m;
            }
        }
        double low = KaldiFbank.mel(KaldiFbank.LOW_HZ);
        double delta = (KaldiFbank.mel(8000) - low) / 81;
        int nearest = (int) Math.round((KaldiFbank.mel(1000) - low) / delta) - 1;
        assertThat(loudest).isBetween(nearest - 1, nearest + 1);
        assertThat(row[loudest] - row[70]).isGreaterThan(5f); // and far above a high filter
    }

    @Test
    void shouldRemoveEachBinsMeanOverTime() {
        float[] wave = CampPlusFixture.toFloat(CampPlusFixture.voice(8000, 16000, 130, 1.0, 9));
        float[][] raw = fbank.compute(wave);
        float[][] feat = fbank.campPlusFeatures(wave);
        for (int m = 0; m < 80; m++) {
            double mean = 0;
            double rawMean = 0;
            for (int t = 0; t < feat.length; t++) {
                mean += feat[t][m];
                rawMean += raw[t][m];
            }
            rawMean /= feat.length;
            assertThat(mean / feat.length).isCloseTo(0, org.assertj.core.data.Offset.offset(1e-5));
            assertThat(feat[3][m]).isCloseTo((float) (raw[3][m] - rawMean), org.assertj.core.data.Offset.offset(1e-5f));
        }
    }
}
