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
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * FlowEncoder on tiny random weights in flow.pt's names: the relative shift and chunk mask against obvious
 * loops, loading errors, and the whole encoder against an independent Debian PyTorch 1.13 reference
 * (src/test/resources/oracle/omni2/flow_encoder.py; skipped without the oracle).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class FlowEncoderTest {
    /** 2 heads × 16, 2 + 2 layers, chunks of 4 tokens / 8 frames so that 11 tokens cross chunk borders. */
    static final FlowEncoderConfig TINY = new FlowEncoderConfig(64, 32, 2, 48, 2, 2, 3, 2, 80, 4);
    private static final long[] TOKENS = {5, 63, 0, 17, 17, 42, 8, 33, 60, 1, 29};
    private static final int PE_LEN = 3000;

    private NDManager manager;
    private Path tmp;
    private Path flow;

    @BeforeAll
    void writeTinyFlow() throws Exception {
        manager = NDManager.newBaseManager();
        tmp = Files.createTempDirectory("flow-encoder");
        flow = tmp.resolve("flow.pt");
        write(flow, TINY.tensorShapes(), null, 3);
    }

    @AfterAll
    void close() {
        manager.close();
    }

    /** Random weights (norms near 1, small biases) for the shapes; {@code skip} is left out. */
    static void write(Path file, Map<String, long[]> shapes, String skip, long seed) throws Exception {
        TinyFlowWriter.write(file, shapes, skip, seed);
    }

    private FlowEncoder load(Path file) {
        try (StateDictSource src = StateDictSource.open(file, "")) {
            return new FlowEncoder(src, manager, TINY);
        }
    }

    @Test
    void shouldShiftTheRelativeScoresToQueryMinusKey() {
        // Given scores against the 2T-1 relative positions T-1 .. -(T-1)
        int h = 2;
        int t = 5;
        int w = 2 * t - 1;
        float[] x = new float[h * t * w];
        for (int i = 0; i < x.length; i++) {
            x[i] = i;
        }
        try (NDManager m = manager.newSubManager()) {
            float[] shifted = FlowEncoder.relShift(m.create(x, new Shape(h, t, w))).toFloatArray();
            // Then entry (i, j) is the score of relative position i - j, column T-1-(i-j)
            for (int a = 0; a < h; a++) {
                for (int i = 0; i < t; i++) {
                    for (int j = 0; j < t; j++) {
                        assertThat(shifted[(a * t + i) * t + j]).isEqualTo(x[(a * t + i) * w + (t - 1 - i + j)]);
                    }
                }
            }
        }
    }

    @Test
    void shouldLetEachQuerySeeItsOwnChunkAndEveryEarlierOne() {
        try (NDManager m = manager.newSubManager()) {
            float[] mask = FlowEncoder.chunkMask(m, 7, 3).toFloatArray();
            for (int i = 0; i < 7; i++) {
                for (int j = 0; j < 7; j++) {
                    boolean visible = j < Math.min(7, (i / 3 + 1) * 3);
                    assertThat(mask[i * 7 + j]).as("query %d key %d", i, j)
                            .isEqualTo(visible ? 0f : Float.NEGATIVE_INFINITY);
                }
            }
            assertThat(FlowEncoder.chunkMask(m, 4, 0).toFloatArray()).containsOnly(0f);
        }
    }

    @Test
    void shouldGiveTwoMelFramesPerToken() {
        try (NDManager m = manager.newSubManager()) {
            NDArray mu = load(flow).forward(m, TOKENS);
            assertThat(mu.getShape()).isEqualTo(new Shape(80, 2L * TOKENS.length));
        }
    }

    @Test
    void shouldNameAMissingOrMisshapedTensor() throws Exception {
        Path missing = tmp.resolve("missing.pt");
        write(missing, TINY.tensorShapes(), "encoder.up_encoders.1.self_attn.pos_bias_v", 3);
        assertThatThrownBy(() -> load(missing)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("encoder.up_encoders.1.self_attn.pos_bias_v").hasMessageContaining("[2, 16]");
        FlowEncoderConfig wider = new FlowEncoderConfig(64, 32, 2, 64, 2, 2, 3, 2, 80, 4);
        Path misshaped = tmp.resolve("misshaped.pt");
        write(misshaped, wider.tensorShapes(), null, 3);
        assertThatThrownBy(() -> load(misshaped)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("encoder.encoders.0.feed_forward.w_1.weight").hasMessageContaining("[64, 32]")
                .hasMessageContaining("[48, 32]");
    }

    @Test
    void shouldRefuseATokenOutsideTheVocabulary() {
        try (NDManager m = manager.newSubManager()) {
            FlowEncoder encoder = load(flow);
            assertThatThrownBy(() -> encoder.forward(m, new long[] {3, 64})).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("speech token 64 outside 0..63");
        }
    }

    @Test
    void shouldMatchTheTorchReferenceEncoder() throws Exception {
        Assumptions.assumeTrue(PythonOracle.torchAvailable(), "Debian /usr/bin/python3 with torch is not available");
        // Given the tiny weights and tokens, run through the independent reference
        Path in = tmp.resolve("inputs.pt");
        float[] tokens = new float[TOKENS.length];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = TOKENS[i];
        }
        new TorchCheckpointWriter().put("tokens", new long[] {tokens.length}, tokens)
                .put("meta", new long[] {4}, new float[] {TINY.heads(), TINY.lookahead(), TINY.upStride(),
                    TINY.chunkTokens()})
                .put("pe_len", new long[] {1}, new float[] {PE_LEN}).write(in, "inputs");
        Path out = tmp.resolve("outputs.pt");
        PythonOracle.runResource("/oracle/omni2/flow_encoder.py", flow.toString(), in.toString(), out.toString());
        TorchCheckpoint oracle = TorchCheckpoint.open(out, "out");
        try (NDManager m = manager.newSubManager()) {
            // Then mu agrees
            float[] java = load(flow).forward(m, TOKENS).toFloatArray();
            float[] torch = oracle.load(m, "mu", DataType.FLOAT32, 80, 2L * TOKENS.length).toFloatArray();
            float diff = maxAbsDiff(java, torch);
            System.out.printf("flow encoder mu vs torch: max abs diff %.3g, rms %.3g%n", diff, HiftVocoderTest.rms(torch));
            assertThat(diff).isLessThan(1e-4f);
            // And the relative sinusoids agree far out (float32 arithmetic, as torch builds them)
            float[] pe = FlowEncoder.relativePositions(m, PE_LEN, TINY.dim()).toFloatArray();
            float[] torchPe = oracle.load(m, "positions", DataType.FLOAT32, 2L * PE_LEN - 1, TINY.dim()).toFloatArray();
            float peDiff = maxAbsDiff(pe, torchPe);
            System.out.printf("relative sinusoids over %d positions vs torch: max abs diff %.3g%n", PE_LEN, peDiff);
            assertThat(peDiff).isLessThan(1e-5f);
        }
    }
}
