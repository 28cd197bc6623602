package dev.omnicall.model.omni2;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDManager;
import dev.omnicall.model.io.CheckpointException;
import dev.omnicall.model.io.TorchCheckpointWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/** HiftVocoder's loading, shapes and determinism on the tiny hift.pt (no Python needed). */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class HiftVocoderTest {
    static final long SEED = 20250519L;
    private static final int FRAMES = 12;

    private Path tmp;
    private NDManager manager;
    private Path hift;

    @BeforeAll
    void writeTinyHift() throws Exception {
        manager = NDManager.newBaseManager();
        tmp = Files.createTempDirectory("hift");
        hift = tmp.resolve("hift.pt");
        TinyHiftWriter.write(hift, SEED);
    }

    @AfterAll
    void close() {
        manager.close();
    }

    /** A log-mel-like input: a slow sweep around −5 with some noise, [80, frames] row-major. */
    static float[] melLike(int frames, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] mel = new float[80 * frames];
        for (int b = 0; b < 80; b++) {
            for (int t = 0; t < frames; t++) {
                mel[b * frames + t] = (float) (-5 + 2.5 * Math.sin(0.45 * t + 0.11 * b) + 0.5 * r.nextGaussian());
            }
        }
        return mel;
    }

    @Test
    void shouldListThePublishedNamesAndShapesAtFullWidth() {
        // Given CosyVoice2's structure at its published widths
        Map<String, long[]> shapes = HiftConfig.cosyVoice2().tensorShapes();
        // Then the count and the parameter total are the spec's (328 tensors, 20.82 M)
        assertThat(shapes).hasSize(328);
        long params = shapes.values().stream().mapToLong(s -> Arrays.stream(s).reduce(1, (a, b) -> a * b)).sum();
        assertThat(Math.round(params / 1e4) / 100.0).isEqualTo(20.82);
        // And the shapes of the spec's table
        assertThat(shapes.get("conv_pre.weight_v")).containsExactly(512, 80, 7);
        assertThat(shapes.get("conv_pre.weight_g")).containsExactly(512, 1, 1);
        assertThat(shapes.get("ups.0.weight_v")).containsExactly(512, 256, 16);
        assertThat(shapes.get("ups.1.weight_v")).containsExactly(256, 128, 11);
        assertThat(shapes.get("ups.2.weight_v")).containsExactly(128, 64, 7);
        assertThat(shapes.get("ups.2.weight_g")).containsExactly(128, 1, 1);
        assertThat(shapes.get("source_downs.0.weight")).containsExactly(256, 18, 30);
        assertThat(shapes.get("source_downs.1.weight")).containsExactly(128, 18, 6);
        assertThat(shapes.get("source_downs.2.weight")).containsExactly(64, 18, 1);
        assertThat(shapes.get("source_resblocks.2.convs1.0.weight_v")).containsExactly(64, 64, 11);
        assertThat(shapes.get("resblocks.8.convs2.2.weight_v")).containsExactly(64, 64, 11);
        assertThat(shapes.get("resblocks.0.activations1.0.alpha")).containsExactly(256);
        assertThat(shapes.get("conv_post.weight_v")).containsExactly(18, 64, 7);
        assertThat(shapes.get("conv_post.bias")).containsExactly(18);
        assertThat(shapes.get("m_source.l_linear.weight")).containsExactly(1, 9);
        assertThat(shapes.get("f0_predictor.condnet.0.weight_v")).containsExactly(512, 80, 3);
        assertThat(shapes.get("f0_predictor.condnet.8.weight_v")).containsExactly(512, 512, 3);
        assertThat(shapes.get("f0_predictor.classifier.weight")).containsExactly(1, 512);
    }

    @Test
    void shouldGive480SamplesPerFrameInsideTheClampWithVoicedAndUnvoicedFrames() {
        HiftVocoder v = HiftVocoder.load(hift, manager, SourcePins.defaults());
        assertThat(v.config().baseChannels()).isEqualTo(TinyHiftWriter.BASE_CHANNELS);
        assertThat(v.config().f0Channels()).isEqualTo(TinyHiftWriter.F0_CHANNELS);
        HiftVocoder.Synthesis s = v.synthesize(melLike(FRAMES, 1), FRAMES);
        assertThat(s.f0()).hasSize(FRAMES);
        assertThat(s.source()).hasSize(FRAMES * 480);
        assertThat(s.audio()).hasSize(FRAMES * 480);
        for (float a : s.audio()) {
            assertThat(a).isBetween(-0.99f, 0.99f);
        }
        assertThat(rms(s.audio())).isGreaterThan(1e-3);
        // the fixture exercises both branches of the source: voiced (f0 > 10 Hz) and unvoiced frames
        assertThat(boxed(s.f0())).anyMatch(f -> f > 10).anyMatch(f -> f <= 10);
    }

    @Test
    void shouldBeReproducibleWithPinnedSourceAndChangeWithThePins() {
        float[] mel = melLike(FRAMES, 2);
        float[] a = HiftVocoder.load(hift, manager, SourcePins.seeded(5)).synthesize(mel, FRAMES).audio();
        float[] b = HiftVocoder.load(hift, manager, SourcePins.seeded(5)).synthesize(mel, FRAMES).audio();
        float[] other = HiftVocoder.load(hift, manager, SourcePins.seeded(6)).synthesize(mel, FRAMES).audio();
        float[] zero = HiftVocoder.load(hift, manager, SourcePins.zero()).synthesize(mel, FRAMES).audio();
        assertThat(b).containsExactly(a);
        assertThat(maxAbsDiff(a, other)).isGreaterThan(1e-4f);
        assertThat(maxAbsDiff(a, zero)).isGreaterThan(1e-4f);
    }

    @Test
    void shouldDrawTheSameNoiseForTheSameSamplesWhereverTheyStart() {
        SourcePins pins = SourcePins.seeded(9);
        float[] whole = pins.noise(9, 0, 200);
        float[] piece = pins.noise(9, 120, 50);
        for (int h = 0; h < 9; h++) {
            assertThat(Arrays.copyOfRange(piece, h * 50, h * 50 + 50))
                    .containsExactly(Arrays.copyOfRange(whole, h * 200 + 120, h * 200 + 170));
        }
        double mean = 0;
        double square = 0;
        for (float n : whole) {
            mean += n / whole.length;
            square += (double) n * n / whole.length;
        }
        assertThat(mean).isBetween(-0.1, 0.1);
        assertThat(square).isBetween(0.85, 1.15);
        assertThat(pins.phases(9)[0]).isZero();
        assertThat(boxed(pins.phases(9))).allMatch(p -> p >= -Math.PI && p <= Math.PI).doesNotHaveDuplicates();
        assertThat(SourcePins.zero().phases(9)).containsOnly(0f);
        assertThat(SourcePins.zero().noise(9, 0, 10)).containsOnly(0f);
    }

    @Test
    void shouldLoadBothWeightNormNamingsAndAGeneratorPrefixToTheSameAudio() throws Exception {
        Path renamed = tmp.resolve("hift-parametrizations.pt");
        TinyHiftWriter.write(renamed, SEED, TinyHiftWriter.WeightNormNaming.PARAMETRIZATIONS, "generator.");
        float[] mel = melLike(FRAMES, 3);
        float[] a = HiftVocoder.load(hift, manager, SourcePins.defaults()).synthesize(mel, FRAMES).audio();
        float[] b = HiftVocoder.load(renamed, manager, SourcePins.defaults()).synthesize(mel, FRAMES).audio();
        assertThat(b).containsExactly(a);
    }

    @Test
    void shouldNameTheTensorAndBothShapesWhenOneIsMisshaped() throws Exception {
        // Given a tiny hift.pt whose ups.1 kernel is 10 wide instead of 11
        Path bad = writeWith("ups.1.weight_v", new long[] {16, 8, 10});
        // Then loading fails naming the tensor, the file's shape and the expected one
        assertThatThrownBy(() -> HiftVocoder.load(bad, manager, SourcePins.defaults()))
                .isInstanceOf(CheckpointException.class)
                .hasMessageContaining("ups.1.weight_v").hasMessageContaining("[16, 8, 10]")
                .hasMessageContaining("[16, 8, 11]");
    }

    @Test
    void shouldNameAMissingTensorAndAMissingFile() throws Exception {
        Path missing = writeWith("resblocks.4.activations2.1.alpha", null);
        assertThatThrownBy(() -> HiftVocoder.load(missing, manager, SourcePins.defaults()))
                .isInstanceOf(CheckpointException.class)
                .hasMessageContaining("resblocks.4.activations2.1.alpha").hasMessageContaining("[8]");
        Path noGain = writeWith("conv_post.weight_g", null);
        assertThatThrownBy(() -> HiftVocoder.load(noGain, manager, SourcePins.defaults()))
                .isInstanceOf(CheckpointException.class).hasMessageContaining("conv_post.weight_g");
        Path absent = tmp.resolve("cosy2_decoder/hift.pt");
        assertThatThrownBy(() -> HiftVocoder.load(absent, manager, SourcePins.defaults()))
                .isInstanceOf(CheckpointException.class).hasMessageContaining(absent.toString())
                .hasMessageContaining("missing");
    }

    @Test
    void shouldRefuseAMelOfTheWrongSize() {
        HiftVocoder v = HiftVocoder.load(hift, manager, SourcePins.defaults());
        assertThatThrownBy(() -> v.synthesize(new float[80 * 3 + 1], 3)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("241 mel values for 3 frames of 80 bins");
    }

    /** The tiny weights with one tensor reshaped (random values) or, with a null shape, left out. */
    private Path writeWith(String name, long[] shape) throws Exception {
        Path file = Files.createTempFile(tmp, "hift", ".pt");
        SplittableRandom r = new SplittableRandom(1);
        TorchCheckpointWriter w = new TorchCheckpointWriter();
        for (Map.Entry<String, long[]> e : TinyHiftWriter.config().tensorShapes().entrySet()) {
            long[] s = e.getKey().equals(name) ? shape : e.getValue();
            if (s == null) {
                continue;
            }
            float[] values = new float[(int) Arrays.stream(s).reduce(1, (a, b) -> a * b)];
            for (int i = 0; i < values.length; i++) {
                values[i] = (float) (0.5 + r.nextDouble());
            }
            w.put(e.getKey(), s, values);
        }
        w.write(file, null);
        return file;
    }

    static java.util.List<Float> boxed(float[] x) {
        java.util.List<Float> out = new java.util.ArrayList<>(x.length);
        for (float v : x) {
            out.add(v);
        }
        return out;
    }

    static double rms(float[] x) {
        double s = 0;
        for (float v : x) {
            s += (double) v * v;
        }
        return Math.sqrt(s / x.length);
    }

    static float maxAbsDiff(float[] a, float[] b) {
        assertThat(b).hasSameSizeAs(a);
        float m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]));
        }
        return m;
    }
}
