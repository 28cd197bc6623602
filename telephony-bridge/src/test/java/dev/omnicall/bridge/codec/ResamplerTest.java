package dev.omnicall.bridge.codec;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

class ResamplerTest {

    static short[] tone(double hz, int rate, int samples, double amplitude) {
        short[] s = new short[samples];
        for (int i = 0; i < samples; i++) {
            s[i] = (short) Math.round(amplitude * Math.sin(2 * Math.PI * hz * i / rate));
        }
        return s;
    }

    /** RMS over the middle of the signal, away from the filter's start-up. */
    static double rms(short[] s, int skip) {
        double sum = 0;
        for (int i = skip; i < s.length; i++) {
            sum += (double) s[i] * s[i];
        }
        return Math.sqrt(sum / (s.length - skip));
    }

    static double gainDb(short[] in, short[] out, int skipIn, int skipOut) {
        return 20 * Math.log10(rms(out, skipOut) / rms(in, skipIn));
    }

    @Test
    void shouldKeepA1kHzToneWhenDownsampling16To8() {
        short[] in = tone(1000, 16000, 16000, 10000);
        short[] out = DownsamplerTo8k.forRate(16_000).process(in);
        assertThat(out).hasSize(8000);
        assertThat(gainDb(in, out, 200, 100)).isCloseTo(0.0, within(0.1));
    }

    @Test
    void shouldRemoveA6kHzToneWhenDownsampling16To8() {
        // 6 kHz is above the 4 kHz Nyquist of 8 kHz: unfiltered it would alias to 2 kHz.
        short[] in = tone(6000, 16000, 16000, 10000);
        short[] out = DownsamplerTo8k.forRate(16_000).process(in);
        assertThat(gainDb(in, out, 200, 100)).isLessThan(-60.0);
    }

    @Test
    void shouldKeepA1kHzToneWhenUpsampling8To16() {
        short[] in = tone(1000, 8000, 8000, 10000);
        short[] out = new Upsampler8To16().process(in);
        assertThat(out).hasSize(16000);
        assertThat(gainDb(in, out, 100, 200)).isCloseTo(0.0, within(0.1));
    }

    @Test
    void shouldSuppressImagesWhenUpsampling8To16() {
        // A 3 kHz tone at 8 kHz, zero-stuffed, has an image at 5 kHz; the filter must remove it.
        short[] in = tone(3000, 8000, 8000, 10000);
        short[] out = new Upsampler8To16().process(in);
        double image = goertzel(out, 5000, 16000, 200);
        double wanted = goertzel(out, 3000, 16000, 200);
        assertThat(20 * Math.log10(image / wanted)).isLessThan(-60.0);
    }

    @Test
    void shouldGiveIdenticalSamplesWhetherFedWholeOrPacketByPacket() {
        // No clicks at packet boundaries: streaming state makes chunked output equal whole-signal output.
        short[] in8k = tone(1000, 8000, 8000, 12000);
        short[] whole = new Upsampler8To16().process(in8k);
        Upsampler8To16 up = new Upsampler8To16();
        short[] chunked = new short[whole.length];
        for (int at = 0; at < in8k.length; at += 160) {
            short[] part = up.process(in8k, at, 160);
            System.arraycopy(part, 0, chunked, at * 2, part.length);
        }
        assertThat(chunked).containsExactly(whole);
    }

    @Test
    void shouldGiveIdenticalSamplesForOddChunkSizesWhenDownsampling() {
        short[] in16k = tone(1000, 16000, 16000, 12000);
        short[] whole = DownsamplerTo8k.forRate(16_000).process(in16k);
        DownsamplerTo8k down = DownsamplerTo8k.forRate(16_000);
        short[] chunked = new short[whole.length];
        int filled = 0;
        int[] sizes = {321, 1, 640, 17, 999};
        int at = 0;
        for (int i = 0; at < in16k.length; i++) {
            int n = Math.min(sizes[i % sizes.length], in16k.length - at);
            short[] part = down.process(in16k, at, n);
            System.arraycopy(part, 0, chunked, filled, part.length);
            filled += part.length;
            at += n;
        }
        assertThat(filled).isEqualTo(whole.length);
        assertThat(chunked).containsExactly(whole);
    }

    @Test
    void shouldHaveNoStepsLargerThanTheToneAllowsAtPacketBoundaries() {
        // A 1 kHz sine at 16 kHz changes by at most 2*pi*1000/16000*A per sample; a click would exceed it.
        short[] in8k = tone(1000, 8000, 8000, 12000);
        Upsampler8To16 up = new Upsampler8To16();
        int previous = 0;
        int maxStep = 0;
        for (int at = 0; at < in8k.length; at += 160) {
            for (short s : up.process(in8k, at, 160)) {
                maxStep = Math.max(maxStep, Math.abs(s - previous));
                previous = s;
            }
        }
        assertThat(maxStep).isLessThan((int) (2 * Math.PI * 1000 / 16000 * 12000 * 1.05));
    }

    /** Magnitude at one frequency (Goertzel), skipping the first samples. */
    static double goertzel(short[] s, double hz, int rate, int skip) {
        double w = 2 * Math.PI * hz / rate;
        double coeff = 2 * Math.cos(w);
        double s1 = 0;
        double s2 = 0;
        for (int i = skip; i < s.length; i++) {
            double s0 = s[i] + coeff * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        return Math.sqrt(s1 * s1 + s2 * s2 - coeff * s1 * s2);
    }
}
