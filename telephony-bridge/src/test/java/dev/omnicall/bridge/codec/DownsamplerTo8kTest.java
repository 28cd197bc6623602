package dev.omnicall.bridge.codec;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Reply audio at 8, 16 and 24 kHz to the 8 kHz of a G.711 call. The stated figures: passband flat within 0.1 dB to
 * 3 kHz, stopband at least 80 dB down from 4.2 kHz to the input's Nyquist (the design gives 85), 24 samples (3 ms) of
 * delay at 16 and 24 kHz, none at 8 kHz.
 */
class DownsamplerTo8kTest {

    static final double STOPBAND_DB = -80.0;

    static short[] tone(double hz, int rate, int samples, double amplitude) {
        short[] s = new short[samples];
        for (int i = 0; i < samples; i++) {
            s[i] = (short) Math.round(amplitude * Math.sin(2 * Math.PI * hz * i / rate));
        }
        return s;
    }

    /** RMS of {@code s} from {@code skip} on; a floor of 1e-3 keeps an all-zero output finite in dB. */
    static double rms(short[] s, int skip) {
        double sum = 0;
        for (int i = skip; i < s.length; i++) {
            sum += (double) s[i] * s[i];
        }
        return Math.max(1e-3, Math.sqrt(sum / (s.length - skip)));
    }

    /** Gain in dB, skipping the filter's start-up (and nothing of a tone's steady state). */
    static double gainDb(short[] in, short[] out) {
        return 20 * Math.log10(rms(out, 100) / rms(in, 300));
    }

    /** Frequency from the positive-going zero crossings, interpolated between samples. */
    static double frequencyHz(short[] s, int rate, int skip) {
        double first = -1;
        double last = -1;
        int crossings = 0;
        for (int i = skip + 1; i < s.length; i++) {
            if (s[i - 1] < 0 && s[i] >= 0) {
                double at = i - 1 + (double) -s[i - 1] / (s[i] - s[i - 1]);
                if (first < 0) {
                    first = at;
                } else {
                    crossings++;
                }
                last = at;
            }
        }
        return crossings * (double) rate / (last - first);
    }

    @Test
    void shouldKeepA1kHzToneAt24kHzWithItsFrequencyAndAmplitude() {
        // Given one second of a 1 kHz tone at 24 kHz, amplitude 10000
        short[] in = tone(1000, 24_000, 24_000, 10_000);

        // When it is downsampled to 8 kHz
        short[] out = DownsamplerTo8k.forRate(24_000).process(in);

        // Then a third as many samples come out, the same tone: 1 kHz, amplitude 10000
        assertThat(out).hasSize(8_000);
        assertThat(frequencyHz(out, 8_000, 100)).isCloseTo(1000.0, within(0.5));
        assertThat(rms(out, 100) * Math.sqrt(2)).isCloseTo(10_000.0, within(50.0));
        assertThat(gainDb(in, out)).isCloseTo(0.0, within(0.05));
    }

    @Test
    void shouldAttenuateA5kHzToneAt24kHzBelowTheStopband() {
        // 5 kHz is above the 4 kHz Nyquist of 8 kHz: decimated without a filter it would alias to 3 kHz at full level
        short[] in = tone(5000, 24_000, 24_000, 16_000);

        short[] out = DownsamplerTo8k.forRate(24_000).process(in);

        assertThat(gainDb(in, out)).isLessThan(STOPBAND_DB);
    }

    @ParameterizedTest
    @ValueSource(ints = {16_000, 24_000})
    void shouldAttenuateEveryToneFrom4Point2kHzToTheInputNyquist(int rate) {
        double worst = Double.NEGATIVE_INFINITY;
        int worstHz = 0;
        for (int hz = 4200; hz < rate / 2; hz += 200) {
            short[] out = DownsamplerTo8k.forRate(rate).process(tone(hz, rate, rate / 4, 16_000));
            double db = 20 * Math.log10(rms(out, 100) / (16_000 / Math.sqrt(2)));
            assertThat(db).as("%d Hz at %d Hz", hz, rate).isLessThan(STOPBAND_DB);
            if (db > worst) {
                worst = db;
                worstHz = hz;
            }
        }
        System.out.printf("stopband at %d Hz input: worst %.1f dB (%d Hz)%n", rate, worst, worstHz);
    }

    @ParameterizedTest
    @ValueSource(ints = {16_000, 24_000})
    void shouldPassTheTelephoneBandFlat(int rate) {
        for (int hz = 300; hz <= 3000; hz += 300) {
            short[] in = tone(hz, rate, rate / 2, 10_000);
            short[] out = DownsamplerTo8k.forRate(rate).process(in);
            assertThat(gainDb(in, out)).as("%d Hz at %d Hz", hz, rate).isCloseTo(0.0, within(0.1));
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {16_000, 24_000})
    void shouldEqualTheDirectConvolutionReferenceWhateverTheChunking(int rate) {
        // Given speech-like input: two tones, one above the telephone band, and noise, near full scale
        Random random = new Random(rate);
        short[] in = new short[rate];
        for (int i = 0; i < in.length; i++) {
            double v = 9000 * Math.sin(2 * Math.PI * 440 * i / rate) + 6000 * Math.sin(2 * Math.PI * 5300 * i / rate)
                    + 4000 * random.nextGaussian();
            in[i] = (short) Math.max(Short.MIN_VALUE, Math.min(Short.MAX_VALUE, Math.round(v)));
        }
        DownsamplerTo8k down = DownsamplerTo8k.forRate(rate);
        float[] h = down.coefficients();
        int factor = rate / 8000;

        // When the streaming decimator is fed in uneven chunks, and the reference convolves the whole signal
        short[] fast = new short[in.length / factor];
        int filled = 0;
        int[] sizes = {1, 479, 2, 960, 3, 17, 1440, 5};
        for (int at = 0, i = 0; at < in.length; i++) {
            int n = Math.min(sizes[i % sizes.length], in.length - at);
            short[] part = down.process(in, at, n);
            System.arraycopy(part, 0, fast, filled, part.length);
            filled += part.length;
            at += n;
        }
        short[] reference = directConvolutionThenEveryNth(in, h, factor);

        // Then every output sample is the reference's, give or take the rounding of a float sum (1 LSB)
        assertThat(filled).isEqualTo(reference.length);
        int differing = 0;
        for (int o = 0; o < reference.length; o++) {
            assertThat(Math.abs(fast[o] - reference[o])).as("sample %d", o).isLessThanOrEqualTo(1);
            differing += fast[o] != reference[o] ? 1 : 0;
        }
        assertThat(differing).as("samples 1 LSB off").isLessThan(reference.length / 50);
    }

    /** The slow, obvious reference: y[n] = sum_k h[k] x[n - k] in double over the whole signal, kept at every factor-th n. */
    private static short[] directConvolutionThenEveryNth(short[] x, float[] h, int factor) {
        double[] y = new double[x.length];
        for (int n = 0; n < x.length; n++) {
            double acc = 0;
            for (int k = 0; k < h.length && k <= n; k++) {
                acc += (double) h[k] * x[n - k];
            }
            y[n] = acc;
        }
        short[] out = new short[(x.length + factor - 1) / factor];
        for (int o = 0; o < out.length; o++) {
            out[o] = (short) Math.max(Short.MIN_VALUE, Math.min(Short.MAX_VALUE, Math.round(y[o * factor])));
        }
        return out;
    }

    @ParameterizedTest
    @ValueSource(ints = {16_000, 24_000})
    void shouldDelayAnImpulseBy24OutputSamplesAndReleaseItsTailOnFlush(int rate) {
        // Given an impulse on an input sample that is kept (index 3 at 24 kHz, 2 at 16 kHz: output sample 1)
        int factor = rate / 8000;
        DownsamplerTo8k down = DownsamplerTo8k.forRate(rate);
        short[] impulse = new short[factor * 2];
        impulse[factor] = 30_000;

        // When it goes in, then the flush
        short[] out = down.process(impulse);
        short[] tail = down.flush();

        // Then its sound comes out centred 24 samples later (3 ms), the flush holding it, then silence
        assertThat(down.delayOutputSamples()).isEqualTo(24);
        assertThat(out).hasSize(2);
        short[] all = new short[out.length + tail.length];
        System.arraycopy(out, 0, all, 0, out.length);
        System.arraycopy(tail, 0, all, out.length, tail.length);
        int loudest = 0;
        for (int i = 1; i < all.length; i++) {
            loudest = Math.abs(all[i]) > Math.abs(all[loudest]) ? i : loudest;
        }
        assertThat(loudest).isEqualTo(1 + 24);
        for (int i = 1 + 2 * 24 + 1; i < all.length; i++) {
            assertThat(all[i]).as("sample %d after the filter's span", i).isZero();
        }
    }

    @Test
    void shouldPass8kHzThroughUnchangedWithoutDelay() {
        DownsamplerTo8k down = DownsamplerTo8k.forRate(8_000);
        short[] in = tone(1000, 8_000, 801, 12_000);

        assertThat(down.process(in, 0, 1)).containsExactly(in[0]);
        assertThat(down.process(in, 1, 800)).containsExactly(java.util.Arrays.copyOfRange(in, 1, 801));
        assertThat(down.flush()).isEmpty();
        assertThat(down.delayOutputSamples()).isZero();
        assertThat(down.factor()).isEqualTo(1);
    }

    @Test
    void shouldGive16kHzTheFilterItHadBefore24kHz() {
        // The 16 kHz path must not change: 96 taps, -6 dB at 3.6 kHz, Kaiser beta 8 (Downsampler16To8 until issue 13)
        float[] h = DownsamplerTo8k.forRate(16_000).coefficients();
        assertThat(h).containsExactly(WindowedSinc.lowPass(96, 3600.0 / 16000.0, 8.0, 1.0));
        assertThat(DownsamplerTo8k.forRate(24_000).coefficients()).hasSize(144);
    }

    @ParameterizedTest
    @ValueSource(ints = {44_100, 48_000, 11_025, 22_050, 32_000, 0, -16_000})
    void shouldRefuseOtherRatesNamingTheRateAndTheOnesPlayed(int rate) {
        assertThat(DownsamplerTo8k.supports(rate)).isFalse();
        assertThatThrownBy(() -> DownsamplerTo8k.forRate(rate))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("sample rate " + rate + " Hz")
                .hasMessageContaining("8000, 16000 and 24000 Hz");
    }
}
