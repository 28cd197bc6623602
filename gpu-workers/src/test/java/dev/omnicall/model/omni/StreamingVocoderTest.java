package dev.omnicall.model.omni;

import static org.assertj.core.api.Assertions.assertThat;

import dev.omnicall.model.TinyModels;
import dev.omnicall.model.stream.AudioPiece;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class StreamingVocoderTest {
    private final UnitVocoder vocoder = TinyModels.model().vocoder();

    record Streamed(float[] audio, List<Integer> seams, int[] durations) {
    }

    private Streamed stream(int[] units, int chunk, int context, int fade) {
        StreamingVocoder sv = new StreamingVocoder(vocoder, context, fade);
        List<Float> out = new ArrayList<>();
        List<Integer> seams = new ArrayList<>();
        for (int at = 0; at < units.length; at += chunk) {
            int end = Math.min(units.length, at + chunk);
            AudioPiece piece = sv.push(Arrays.copyOfRange(units, at, end), end == units.length);
            if (!out.isEmpty()) {
                seams.add(out.size());
            }
            for (short s : piece.pcm()) {
                out.add(s / 32767f);
            }
        }
        float[] a = new float[out.size()];
        for (int i = 0; i < a.length; i++) {
            a[i] = out.get(i);
        }
        return new Streamed(a, seams, sv.durations());
    }

    private static int[] randomUnits(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] u = new int[n];
        for (int i = 0; i < n; i++) {
            u[i] = r.nextInt(100);
        }
        return u;
    }

    @Test
    void shouldVoiceEveryUnitOnceWhenStreamingInChunks() {
        // Given 50 units streamed 10 at a time with 4 context units and a 320-sample crossfade
        int[] units = randomUnits(50, 11);
        Streamed s = stream(units, 10, 4, 320);
        // Then the audio is exactly as long as the durations say (hop 320 per duration frame)
        assertThat(s.durations()).hasSize(50);
        assertThat(s.audio().length).isEqualTo(Arrays.stream(s.durations()).sum() * vocoder.hop());
    }

    @Test
    void shouldLeaveNoStepAtChunkSeamsWhenCrossfadingWithContext() {
        // Given 60 units streamed 10 at a time, smoothed (4 context units, 20 ms crossfade) and naive
        int[] units = randomUnits(60, 5);
        Streamed smooth = stream(units, 10, 4, 320);
        Streamed naive = stream(units, 10, 0, 0);
        // and the whole utterance synthesised in one pass with the same durations
        float[] whole = vocoder.synthesize(units, smooth.durations()).audio();
        assertThat(smooth.audio()).hasSameSizeAs(whole);
        float typicalStep = percentile(absDiff(whole), 0.99);
        for (int seam : smooth.seams()) {
            // Then the jump across each seam is no larger than the signal's own 99th-percentile step
            float jump = Math.abs(smooth.audio()[seam] - smooth.audio()[seam - 1]);
            assertThat(jump).as("jump at seam %d", seam).isLessThanOrEqualTo(typicalStep);
            // and around the seam the smoothed audio stays closer to the one-pass audio than naive concatenation
        }
        double smoothError = seamError(smooth.audio(), whole, smooth.seams(), 640);
        float[] wholeNaive = vocoder.synthesize(units, naive.durations()).audio();
        double naiveError = seamError(naive.audio(), wholeNaive, naive.seams(), 640);
        System.out.printf("seam rms error: smoothed %.5f naive %.5f; 99th pct step %.4f%n", smoothError, naiveError,
                typicalStep);
        assertThat(smoothError).isLessThan(naiveError);
    }

    private static float[] absDiff(float[] x) {
        float[] d = new float[x.length - 1];
        for (int i = 1; i < x.length; i++) {
            d[i - 1] = Math.abs(x[i] - x[i - 1]);
        }
        return d;
    }

    private static float percentile(float[] x, double p) {
        float[] s = x.clone();
        Arrays.sort(s);
        return s[(int) Math.min(s.length - 1, Math.round(p * (s.length - 1)))];
    }

    private static double seamError(float[] a, float[] b, List<Integer> seams, int radius) {
        double sum = 0;
        int n = 0;
        for (int seam : seams) {
            for (int i = Math.max(0, seam - radius); i < Math.min(Math.min(a.length, b.length), seam + radius); i++) {
                double d = a[i] - b[i];
                sum += d * d;
                n++;
            }
        }
        return Math.sqrt(sum / Math.max(1, n));
    }
}
