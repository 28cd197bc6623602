package dev.omnicall.model.omni2;

import static dev.omnicall.model.omni2.HiftVocoderTest.maxAbsDiff;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.omnicall.model.PythonOracle;
import dev.omnicall.model.io.CheckpointException;
import dev.omnicall.model.io.TorchCheckpoint;
import dev.omnicall.model.io.TorchCheckpointWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * FlowEstimator and FlowMatching on a tiny random flow.pt (the encoder of {@link FlowEncoderTest}, the
 * speaker affine layer, an estimator 16 channels wide with 2 heads × 8, 1 transformer block per stage, 2
 * mid stages, 6-frame chunks), against an independent Debian PyTorch 1.13 reference
 * (src/test/resources/oracle/omni2/flow_decoder.py; skipped without the oracle): one estimator call on a
 * CFG pair, then the 10-step Euler loop with guidance 0.7 from the Java fixed noise.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class FlowMatchingTest {
    static final FlowEstimator.Config TINY = new FlowEstimator.Config(320, 80, 16, 2, 8, 1, 2, 6);
    private static final int XVECTOR = 192;
    private static final int FRAMES = 14;

    private NDManager manager;
    private Path tmp;
    private FlowMatching flow;
    private FlowEstimator estimator;

    @BeforeAll
    void load() throws Exception {
        manager = NDManager.newBaseManager();
        tmp = Files.createTempDirectory("flow-matching");
        Path file = tmp.resolve("flow.pt");
        Map<String, long[]> shapes = new LinkedHashMap<>(FlowEncoderTest.TINY.tensorShapes());
        shapes.put("spk_embed_affine_layer.weight", new long[] {80, XVECTOR});
        shapes.put("spk_embed_affine_layer.bias", new long[] {80});
        shapes.putAll(TINY.tensorShapes());
        FlowEncoderTest.write(file, shapes, null, 4);
        try (StateDictSource src = StateDictSource.open(file, "")) {
            FlowEncoder encoder = new FlowEncoder(src, manager, FlowEncoderTest.TINY);
            estimator = new FlowEstimator(src, manager, TINY);
            flow = new FlowMatching(src, manager, encoder, estimator, XVECTOR, 10, 0.7, FlowMatching.DEFAULT_NOISE_SEED);
        }
    }

    @AfterAll
    void close() {
        manager.close();
    }

    @Test
    void shouldRunTheCosineGridFromZeroToOne() {
        float[] grid = FlowMatching.timeGrid(10);
        assertThat(grid).hasSize(11);
        assertThat(grid[0]).isZero();
        assertThat(grid[10]).isEqualTo(1f, org.assertj.core.data.Offset.offset(1e-7f));
        for (int k = 1; k <= 10; k++) {
            assertThat(grid[k]).isGreaterThan(grid[k - 1]);
            assertThat((double) grid[k]).isCloseTo(1 - Math.cos(Math.PI / 2 * k / 10), org.assertj.core.data.Offset.offset(1e-6));
        }
    }

    @Test
    void shouldDrawTheSameNoiseForTheSameFramesWhereverTheyStart() {
        try (NDManager m = manager.newSubManager()) {
            float[] whole = flow.noise(m, 0, 10).toFloatArray();
            float[] tail = flow.noise(m, 5, 5).toFloatArray();
            for (int b = 0; b < 80; b++) {
                assertThat(Arrays.copyOfRange(tail, b * 5, b * 5 + 5))
                        .containsExactly(Arrays.copyOfRange(whole, b * 10 + 5, b * 10 + 10));
            }
        }
    }

    @Test
    void shouldRefuseAReplyLongerThanTheNoise() {
        try (NDManager m = manager.newSubManager()) {
            assertThatThrownBy(() -> flow.mel(m, new long[FlowMatching.MAX_FRAMES / 2 + 1], new float[XVECTOR]))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("15002 mel frames")
                    .hasMessageContaining("15000");
        }
    }

    @Test
    void shouldLoadFlowPtFromItsPathAndNameAMissingFileOrTensor() throws Exception {
        // Given the same tiny flow.pt loaded from its path
        FlowMatching fromPath = FlowMatching.load(tmp.resolve("flow.pt"), manager, FlowEncoderTest.TINY, TINY,
                FlowMatching.DEFAULT_NOISE_SEED);
        float[] xvector = gaussian(new SplittableRandom(8), XVECTOR);
        long[] units = {7, 3, 9};
        try (NDManager m = manager.newSubManager()) {
            // Then it gives the same mel as the one built from a source
            assertThat(fromPath.mel(m, units, xvector).toFloatArray()).containsExactly(flow.mel(m, units, xvector)
                    .toFloatArray());
        }
        // And a decoder directory without flow.pt, or a flow.pt without the speaker layer, is one clear error
        Path absent = tmp.resolve("cosy2_decoder/flow.pt");
        assertThatThrownBy(() -> FlowMatching.load(absent, manager)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining(absent.toString()).hasMessageContaining("missing");
        Path noSpeaker = tmp.resolve("no-speaker.pt");
        Map<String, long[]> shapes = new LinkedHashMap<>(FlowEncoderTest.TINY.tensorShapes());
        shapes.putAll(TINY.tensorShapes());
        FlowEncoderTest.write(noSpeaker, shapes, null, 4);
        assertThatThrownBy(() -> FlowMatching.load(noSpeaker, manager, FlowEncoderTest.TINY, TINY, 1))
                .isInstanceOf(CheckpointException.class).hasMessageContaining("spk_embed_affine_layer.weight");
    }

    @Test
    void shouldGiveTwoMelFramesPerUnit() {
        try (NDManager m = manager.newSubManager()) {
            NDArray mel = flow.mel(m, new long[] {1, 2, 3, 4, 5}, gaussian(new SplittableRandom(3), XVECTOR));
            assertThat(mel.getShape()).isEqualTo(new Shape(80, 10));
        }
    }

    @Test
    void shouldMatchTheTorchReferenceEstimatorAndEulerLoop() throws Exception {
        Assumptions.assumeTrue(PythonOracle.torchAvailable(), "Debian /usr/bin/python3 with torch is not available");
        SplittableRandom r = new SplittableRandom(21);
        float[] estX = gaussian(r, 2 * 320 * FRAMES);
        float estT = 0.3f;
        float[] mu = gaussian(r, 80 * FRAMES);
        float[] xvector = gaussian(r, XVECTOR);
        try (NDManager m = manager.newSubManager()) {
            float[] noise = flow.noise(m, 0, FRAMES).toFloatArray();
            Path in = tmp.resolve("inputs.pt");
            new TorchCheckpointWriter().put("est_x", new long[] {2, 320, FRAMES}, estX)
                    .put("est_t", new long[] {1}, new float[] {estT})
                    .put("mu", new long[] {80, FRAMES}, mu).put("spk_xvector", new long[] {XVECTOR}, xvector)
                    .put("noise", new long[] {80, FRAMES}, noise)
                    .put("meta", new long[] {5}, new float[] {TINY.heads(), TINY.headDim(), TINY.chunkFrames(), 10, 0.7f})
                    .write(in, "inputs");
            Path out = tmp.resolve("outputs.pt");
            PythonOracle.runResource("/oracle/omni2/flow_decoder.py", tmp.resolve("flow.pt").toString(), in.toString(),
                    out.toString());
            TorchCheckpoint oracle = TorchCheckpoint.open(out, "out");
            // one estimator call on a CFG pair
            float[] velocity = estimator.forward(m.create(estX, new Shape(2, 320, FRAMES)), estT).toFloatArray();
            float[] torchVelocity = oracle.load(m, "velocity", DataType.FLOAT32, 2, 80, FRAMES).toFloatArray();
            float vDiff = maxAbsDiff(velocity, torchVelocity);
            System.out.printf("flow estimator vs torch: max abs diff %.3g, rms %.3g%n", vDiff,
                    HiftVocoderTest.rms(torchVelocity));
            assertThat(vDiff).isLessThan(1e-4f);
            // the time grid and the speaker projection
            assertThat(FlowMatching.timeGrid(10)).containsExactly(oracle.load(m, "t_span", DataType.FLOAT32, 11)
                    .toFloatArray());
            NDArray spk = flow.speaker(m, xvector);
            assertThat(maxAbsDiff(spk.toFloatArray(), oracle.load(m, "spk", DataType.FLOAT32, 80).toFloatArray()))
                    .isLessThan(1e-5f);
            // the 10 Euler steps with guidance
            float[] mel = flow.solve(m.create(mu, new Shape(80, FRAMES)), spk, m.create(noise, new Shape(80, FRAMES)))
                    .toFloatArray();
            float[] torchMel = oracle.load(m, "mel", DataType.FLOAT32, 80, FRAMES).toFloatArray();
            float melDiff = maxAbsDiff(mel, torchMel);
            System.out.printf("flow Euler/CFG mel vs torch: max abs diff %.3g, rms %.3g%n", melDiff,
                    HiftVocoderTest.rms(torchMel));
            assertThat(melDiff).isLessThan(1e-3f);
        }
    }

    private static float[] gaussian(SplittableRandom r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return v;
    }
}
