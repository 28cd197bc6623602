package dev.omnicall.model.omni2;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * StreamingHift on the tiny random hift.pt of {@link TinyHiftWriter} (seeded phases and noise) against the
 * whole-reply {@link HiftVocoder#synthesize}: the carried sine phase, the length, the audio around the
 * seams, the work per call.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class StreamingHiftTest {
    private static final int FRAMES = 66;

    private NDManager manager;
    private HiftVocoder hift;

    @BeforeAll
    void load() throws Exception {
        manager = NDManager.newBaseManager();
        Path file = Files.createTempDirectory("streaming-hift").resolve("hift.pt");
        TinyHiftWriter.write(file, HiftVocoderTest.SEED);
        hift = HiftVocoder.load(file, manager, SourcePins.defaults());
    }

    @AfterAll
    void close() {
        manager.close();
    }

    @Test
    void shouldJoinSourcePiecesAsOneSourceWhenThePhaseIsCarried() {
        try (NDManager m = manager.newSubManager()) {
            // Given one f0 track cut in three pieces
            NDArray f0 = hift.predictF0(m.create(HiftVocoderTest.melLike(FRAMES, 4), new Shape(80, FRAMES)));
            float[] whole = hift.source(f0, 0).toFloatArray();
            int[] cuts = {0, 13, 41, FRAMES};
            double[] phase = new double[10];
            List<float[]> carried = new ArrayList<>();
            List<float[]> restarted = new ArrayList<>();
            for (int i = 0; i + 1 < cuts.length; i++) {
                NDArray piece = f0.get(cuts[i] + ":" + cuts[i + 1]);
                carried.add(hift.source(piece, cuts[i] * 480L, phase).toFloatArray());
                restarted.add(hift.source(piece, cuts[i] * 480L).toFloatArray());
            }
            // Then with the phase carried they join as the whole source (the whole one's float cumsum is the
            // only difference), and restarting every piece at phase 0, as the reference does, does not
            float carriedDiff = HiftVocoderTest.maxAbsDiff(join(carried), whole);
            float restartedDiff = HiftVocoderTest.maxAbsDiff(join(restarted), whole);
            System.out.printf("source in 3 pieces vs whole: carried phase %.3g, restarted phase %.3g, rms %.3g%n",
                    carriedDiff, restartedDiff, HiftVocoderTest.rms(whole));
            assertThat(carriedDiff).isLessThan(1e-3f);
            assertThat(restartedDiff).isGreaterThan(1e-2f);
        }
    }

    @Test
    void shouldMatchTheWholeReplyExceptAroundTheSeams() {
        // Given 130 mel frames streamed 40 at a time, then the last 10 at the end
        int frames = 130;
        int call = 40;
        float[] mel = HiftVocoderTest.melLike(frames, 5);
        float[] whole = hift.synthesize(mel, frames).audio();
        StreamingHift stream = new StreamingHift(hift, manager);
        List<float[]> pieces = new ArrayList<>();
        List<Integer> work = new ArrayList<>();
        for (int from = 0; from + call <= frames; from += call) {
            pieces.add(stream.push(StreamingFlowTest.columns(mel, from, from + call), call));
            work.add(stream.lastFrames());
        }
        pieces.add(stream.finish(StreamingFlowTest.columns(mel, 120, frames), frames - 120));
        float[] audio = join(pieces);
        // Then 480 samples per frame; the first call holds back 160 ms, the next ones give 40 frames each
        assertThat(audio).hasSize(480 * frames);
        assertThat(pieces.get(0)).hasSize(480 * call - 3840);
        assertThat(pieces.get(1)).hasSize(480 * call);
        // And each call vocodes at most the 8 cached frames and the new ones
        assertThat(work).containsExactly(40, 48, 48);
        // And away from the seams it is the whole reply's audio: a call ending at frame s held back [s − 8, s)
        // and cross-fades it in the next call, whose window starts there; the decoder's reach (~13 frames: conv_pre
        // 3, the 8× stage's resblocks ~7.5, the rest ~2) makes frames [s − 16, s + 6) differ
        float far = 0;
        float near = 0;
        float[] byDistance = new float[40];
        for (int i = 0; i < audio.length; i++) {
            int frame = i / 480;
            boolean seam = Arrays.stream(new int[] {40, 80, 120}).anyMatch(s -> frame >= s - 16 && frame < s + 6);
            float d = Math.abs(audio[i] - whole[i]);
            if (seam) {
                near = Math.max(near, d);
            } else {
                far = Math.max(far, d);
            }
            if (frame >= 60 && frame < 100) {
                byDistance[frame - 60] = Math.max(byDistance[frame - 60], d);
            }
        }
        StringBuilder profile = new StringBuilder();
        for (int f = 0; f < byDistance.length; f++) {
            profile.append(String.format(" %d:%.1e", f - 20, byDistance[f]));
        }
        System.out.println("hift streamed vs whole, max diff per frame around the seam at frame 80:" + profile);
        // and around the seams (the decoder sees nothing beyond the window, the cross-fade mixes two versions)
        // it is as close to it as the reference's own streaming of the same frames
        float[] reference = referenceStreaming(mel, call);
        double rmsDiff = StreamingFlowTest.rmsDiff(audio, whole);
        double referenceRmsDiff = StreamingFlowTest.rmsDiff(reference, whole);
        System.out.printf("hift streamed (40 frames a call) vs whole: max diff away from seams %.3g, near seams %.3g, "
                + "rms diff %.3g (the reference's streaming: %.3g), audio rms %.3g%n", far, near, rmsDiff,
                referenceRmsDiff, HiftVocoderTest.rms(whole));
        // (away from the seams the residue, 5.3e-3 here, grows along the reply: the whole reply's phase is a float32
        // cumsum whose rounding grows with the running sum, the streamed one is carried in double; the tiny decoder
        // amplifies source differences, as in HiftGoldenTest)
        assertThat(far).isLessThan(1e-2f);
        assertThat(rmsDiff).isLessThan(0.5 * referenceRmsDiff);
        // And the seams are continuous: no sample-to-sample step there beyond the largest step of the whole audio
        float largestStep = largestStep(whole, 1, whole.length);
        int at = 0;
        for (int p = 0; p + 1 < pieces.size(); p++) {
            at += pieces.get(p).length;
            float seamStep = Math.abs(audio[at] - audio[at - 1]);
            System.out.printf("seam at sample %d: step %.3g (largest step of the whole audio %.3g)%n", at, seamStep,
                    largestStep);
            assertThat(seamStep).isLessThanOrEqualTo(largestStep);
        }
    }

    @Test
    void shouldWaitForEightFramesBeforeVocodingAndRefuseMelAfterTheEnd() {
        StreamingHift stream = new StreamingHift(hift, manager);
        float[] mel = HiftVocoderTest.melLike(12, 6);
        assertThat(stream.push(StreamingFlowTest.columns(mel, 0, 3), 3)).isEmpty();
        assertThat(stream.lastFrames()).isZero();
        assertThat(stream.push(StreamingFlowTest.columns(mel, 3, 10), 7)).hasSize(480 * 10 - 3840);
        assertThat(stream.finish(StreamingFlowTest.columns(mel, 10, 12), 2)).hasSize(3840 + 480 * 2);
        assertThatThrownBy(() -> stream.push(mel, 12)).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> new StreamingHift(hift, manager).push(mel, 11))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("11 frames");
    }

    @Test
    void shouldUseNumpysHammingWindowForTheCrossFade() {
        double[] w = StreamingHift.hamming(7680);
        assertThat(w[0]).isCloseTo(0.08, org.assertj.core.data.Offset.offset(1e-12));
        assertThat(w[7679]).isCloseTo(0.08, org.assertj.core.data.Offset.offset(1e-12));
        // the halves sum to 1.08, not 1 (the reference's window; the seam region is 8 % louder at most)
        assertThat(w[1000] + w[1000 + 3840]).isCloseTo(1.08, org.assertj.core.data.Offset.offset(1e-3));
    }

    /**
     * The reference's token2wav HiFT caching, the slow obvious way: every call vocodes [last 8 mel frames |
     * new] with a source whose phase starts at 0 and whose first 3840 samples are replaced by the previous
     * call's last 3840; cross-fade and hold back as {@link StreamingHift}. Pins as ours (seeded phases and
     * noise at the window's samples) so that only the caching differs.
     */
    private float[] referenceStreaming(float[] mel, int perCall) {
        int frames = mel.length / 80;
        double[] w = StreamingHift.hamming(7680);
        List<float[]> out = new ArrayList<>();
        float[] cacheMel = new float[0];
        float[] cacheSource = new float[0];
        float[] tail = new float[0];
        try (NDManager m = manager.newSubManager()) {
            for (int from = 0; from < frames; from += perCall) {
                int to = Math.min(frames, from + perCall);
                boolean last = to == frames;
                int cached = cacheMel.length / 80;
                float[] windowMel = StreamingFlowTest.joinFrames(List.of(cacheMel, StreamingFlowTest.columns(mel, from, to)));
                NDArray x = m.create(windowMel, new Shape(80, cached + to - from));
                float[] source = hift.source(hift.predictF0(x), (from - cached) * 480L).toFloatArray();
                System.arraycopy(cacheSource, 0, source, 0, cacheSource.length);
                float[] audio = hift.decode(x, m.create(source)).toFloatArray();
                if (tail.length > 0) {
                    for (int i = 0; i < 3840; i++) {
                        audio[i] = (float) (audio[i] * w[i] + tail[i] * w[3840 + i]);
                    }
                }
                if (last) {
                    out.add(audio);
                } else {
                    cacheMel = StreamingFlowTest.columns(windowMel, cached + to - from - 8, cached + to - from);
                    cacheSource = Arrays.copyOfRange(source, source.length - 3840, source.length);
                    tail = Arrays.copyOfRange(audio, audio.length - 3840, audio.length);
                    out.add(Arrays.copyOf(audio, audio.length - 3840));
                }
            }
        }
        return join(out);
    }

    static float largestStep(float[] x, int from, int to) {
        float m = 0;
        for (int i = from; i < to; i++) {
            m = Math.max(m, Math.abs(x[i] - x[i - 1]));
        }
        return m;
    }

    static float[] join(List<float[]> pieces) {
        int n = pieces.stream().mapToInt(p -> p.length).sum();
        float[] out = new float[n];
        int at = 0;
        for (float[] p : pieces) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }
}
