package dev.omnicall.model.omni2;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Units → 24 kHz audio streamed W = 10 units at a time on the tiny flow (causal layout) and HiFT, against the
 * whole reply through {@link FlowMatching#mel} and {@link HiftVocoder#synthesize}.
 */
class SpeechStreamTest extends TinySpeechFixture {
    private final float[] xvector = StreamingFlowTest.gaussian(new SplittableRandom(8), StreamingFlowTest.XVECTOR);

    SpeechStreamTest() {
        super(StreamingFlowTest.CAUSAL_ENCODER, StreamingFlowTest.CAUSAL_ESTIMATOR);
    }

    @Test
    void shouldGive960SamplesPerUnitWhateverTheLength() {
        for (int n : new int[] {1, 2, 10, 13, 37}) {
            List<float[]> pieces = stream(new SpeechStream(flow, hift, manager, xvector), units(n), 10);
            assertThat(StreamingHiftTest.join(pieces)).as("%d units", n).hasSize(960 * n);
        }
    }

    @Test
    void shouldGiveTheReferencesChunkSizesAndTheWholeMelsAudioWithContinuousSeams() {
        // Given 37 units streamed 10 at a time with every earlier frame as context
        long[] units = units(37);
        List<float[]> pieces = stream(new SpeechStream(flow, hift, manager, xvector, Integer.MAX_VALUE), units, 10);
        // Then the first push gives 120 ms, the next ones 400 ms each, the finish the rest
        // (the 4th push brings 7 units: 7 tokens' frames; the finish: the 3 held tokens and the held 160 ms)
        assertThat(pieces.stream().map(p -> p.length).toList()).containsExactly(2880, 9600, 9600, 6720, 6720);
        float[] audio = StreamingHiftTest.join(pieces);
        assertThat(audio).hasSize(960 * 37);
        // And it is the whole reply's mel through StreamingHift in the same pieces (the flow is exact here: causal
        // attention, unbounded context; StreamingHiftTest compares StreamingHift with the whole reply's audio)
        float[] whole;
        float[] viaWholeMel;
        try (NDManager m = manager.newSubManager()) {
            float[] mel = flow.mel(m, units, xvector).toFloatArray();
            whole = hift.synthesize(mel, mel.length / 80).audio();
            StreamingHift h = new StreamingHift(hift, m);
            List<float[]> parts = new ArrayList<>();
            int at = 0;
            for (int n : new int[] {14, 20, 20, 14}) {
                parts.add(h.push(StreamingFlowTest.columns(mel, at, at + n), n));
                at += n;
            }
            parts.add(h.finish(StreamingFlowTest.columns(mel, at, 74), 74 - at));
            viaWholeMel = StreamingHiftTest.join(parts);
        }
        float diff = HiftVocoderTest.maxAbsDiff(audio, viaWholeMel);
        System.out.printf("speech stream (W=10) vs the whole mel through StreamingHift: max diff %.3g; vs the whole "
                + "reply's audio: rms diff %.3g, audio rms %.3g%n", diff, StreamingFlowTest.rmsDiff(audio, whole),
                HiftVocoderTest.rms(whole));
        // (the streamed mel equals the whole one within 1e-4, StreamingFlowTest; the tiny HiFT turns that float
        // rounding, through f0 and the phase sum, into up to ~1e-2 of audio, 9.7e-3 here, as in HiftGoldenTest)
        assertThat(diff).isLessThan(2e-2f);
        // And the seams are continuous
        float largestStep = StreamingHiftTest.largestStep(whole, 1, whole.length);
        int at = 0;
        for (int p = 0; p + 1 < pieces.size(); p++) {
            at += pieces.get(p).length;
            if (at > 0 && at < audio.length) {
                assertThat(Math.abs(audio[at] - audio[at - 1])).as("seam at %d", at).isLessThanOrEqualTo(largestStep);
            }
        }
    }

    static List<float[]> stream(SpeechStream s, long[] units, int w) {
        List<float[]> pieces = new ArrayList<>();
        for (int i = 0; i < units.length; i += w) {
            pieces.add(s.push(Arrays.copyOfRange(units, i, Math.min(units.length, i + w))));
        }
        pieces.add(s.finish());
        return pieces;
    }

    private static long[] units(int n) {
        return StreamingFlowTest.units(n, 11);
    }
}
