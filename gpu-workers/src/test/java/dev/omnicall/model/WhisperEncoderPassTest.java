package dev.omnicall.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;
import dev.omnicall.model.omni.OmniModel;
import dev.omnicall.model.omni.SpeechEncoding;
import org.junit.jupiter.api.Test;

/**
 * The Whisper encoder run a few blocks at a time ({@link WhisperEncoder#begin}, chunked prefill) against
 * {@link WhisperEncoder#forward} in one go (the obvious reference). Whole blocks: the same operations on the same
 * shapes, so the same floats to the bit. Slices cut at any row: each output is the same sum of the same products, but
 * a matrix product over fewer rows may take another BLAS kernel that adds them in another order, so the bound is
 * float32 rounding ({@link #ROW_TOLERANCE} of the output's scale), far below any difference a wrong row, a missing
 * key or a skipped residual makes.
 */
class WhisperEncoderPassTest {
    private final OmniModel model = TinyModels.model();
    private final WhisperEncoder encoder = model.encoder();

    @Test
    void shouldGiveTheWholeForwardToTheBitWhateverTheSliceSize() {
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            // Given an utterance's log-mel and the encoder's output in one forward
            NDArray mel = model.frontend().forward(model.manager(), TinyModels.testAudio(1.2, 21));
            float[] whole = encoder.forward(mel).toFloatArray();
            int blocks = encoder.blockCount();
            assertThat(blocks).as("blocks of the tiny encoder (so slices of 1 cut it)").isGreaterThan(1);
            for (int size = 1; size <= blocks; size++) {
                // When it runs `size` blocks per slice
                try (WhisperEncoder.Pass pass = encoder.begin(mel)) {
                    assertThat(pass.frames()).isPositive().isLessThanOrEqualTo(encoder.maxFrames());
                    int slices = 0;
                    boolean done = false;
                    while (!done) {
                        done = pass.advanceBlocks(size);
                        slices++;
                        assertThat(pass.blocksLeft()).isEqualTo(Math.max(0, blocks - slices * size));
                    }
                    // Then as many slices as the size asks, and the same floats
                    assertThat(slices).as("slices of %d blocks", size).isEqualTo((blocks + size - 1) / size);
                    assertThat(pass.advanceBlocks(1)).as("a finished pass stays finished").isTrue();
                    assertThat(pass.advanceRows(1)).isTrue();
                    assertThat(pass.blockRowsLeft()).isZero();
                    try (NDArray out = pass.take()) {
                        assertThat(out.getShape().get(0)).isEqualTo(pass.frames());
                        assertThat(out.toFloatArray()).as("slices of %d blocks", size).containsExactly(whole);
                    }
                }
            }
        }
    }

    /**
     * Max |difference| over the output's max |value| (LayerNorm'd, about 1 to 4). A reordered float32 sum of K products
     * differs by at most about K·2^-24 of the sum of their magnitudes; over the tiny encoder's K ≤ 256 and two blocks
     * that is ~1e-5 at worst, and the LayerNorms rescale rather than amplify it. Measured (CPU, session 15): 0 for most
     * budgets, at most 1.4e-6 of a scale of 3.4 (slices of 1 and 2 block-rows).
     */
    static final double ROW_TOLERANCE = 1e-5;

    @Test
    void shouldGiveTheWholeForwardWhereverTheSlicesCutTheRows() {
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            // Given an utterance's log-mel and the encoder's output in one forward
            NDArray mel = model.frontend().forward(model.manager(), TinyModels.testAudio(1.2, 23));
            float[] whole = encoder.forward(mel).toFloatArray();
            long frames;
            try (WhisperEncoder.Pass probe = encoder.begin(mel)) {
                frames = probe.frames();
            }
            double blockRows = (double) frames * encoder.blockCount();
            for (long budget : new long[] {1, 2, 7, 13, frames - 1, frames, frames + 5, 3 * frames / 2}) {
                // When it runs slices of at most `budget` block-rows (cut mid-keys, mid-queries, across blocks)
                try (WhisperEncoder.Pass pass = encoder.begin(mel)) {
                    assertThat(pass.blockRowsLeft()).isEqualTo(blockRows);
                    double kv = pass.keyValueShare();
                    assertThat(kv).isStrictlyBetween(0.0, 0.5);
                    int slices = 0;
                    boolean done = false;
                    while (!done) {
                        double before = pass.blockRowsLeft();
                        done = pass.advanceRows(budget);
                        slices++;
                        double ran = before - pass.blockRowsLeft();
                        // Then every slice moves, and none runs more than its budget (but one row of keys and
                        // values, or of queries, however small the budget)
                        assertThat(ran).as("slice %d of budget %d", slices, budget).isPositive()
                                .isLessThanOrEqualTo(Math.max(budget, 1 - kv) + 1e-9);
                    }
                    assertThat(pass.blockRowsLeft()).isZero();
                    assertThat(pass.blocksLeft()).isZero();
                    assertThat(slices).as("slices of %d block-rows", budget)
                            .isGreaterThanOrEqualTo((int) Math.ceil(blockRows / budget));
                    try (NDArray out = pass.take()) {
                        assertWithinRounding(out.toFloatArray(), whole, "slices of " + budget + " block-rows");
                    }
                }
            }
            // and rows first, then whole blocks (the block in progress counts as one)
            try (WhisperEncoder.Pass pass = encoder.begin(mel)) {
                assertThat(pass.advanceRows(frames / 3)).isFalse();
                assertThat(pass.blocksLeft()).isEqualTo(encoder.blockCount());
                assertThat(pass.advanceBlocks(1)).isEqualTo(encoder.blockCount() == 1);
                assertThat(pass.blocksLeft()).isEqualTo(encoder.blockCount() - 1);
                assertThat(pass.blockRowsLeft()).isEqualTo((double) frames * (encoder.blockCount() - 1));
                pass.advanceBlocks(Integer.MAX_VALUE);
                try (NDArray out = pass.take()) {
                    assertWithinRounding(out.toFloatArray(), whole, "a third of a block, then whole blocks");
                }
            }
        }
    }

    @Test
    void shouldRunTheLogMelAndTheConvolutionsAsSlicesOfTheirOwnThenTheBlocksAtAnyRow() {
        for (double seconds : new double[] {0.1, 0.73, 1.2, 2.4}) {
            // Given an utterance and its encoder output in one go
            float[] audio = TinyModels.testAudio(seconds, 24);
            try (NDScope scope = new NDScope()) {
                scope.suppressNotUsedWarning();
                NDArray whole = model.encodeAudio(audio);
                // When its encoding starts: nothing runs, yet the frames are known from the audio's length
                try (SpeechEncoding encoding = model.beginEncoding(audio)) {
                    assertThat(encoding.frames()).as("frames of %s s", seconds).isEqualTo(whole.getShape().get(0));
                    assertThat(encoding.preludeLeft()).isEqualTo(2);
                    assertThat(encoding.blocksLeft()).isEqualTo(encoder.blockCount());
                    // Then the log-mel, then the convolutions, each a slice whatever the budget
                    assertThat(encoding.advanceRows(1_000_000)).isFalse();
                    assertThat(encoding.preludeLeft()).isEqualTo(1);
                    assertThat(encoding.advanceRows(1_000_000)).isFalse();
                    assertThat(encoding.preludeLeft()).isZero();
                    assertThat(encoding.blockRowsLeft()).isEqualTo((double) encoding.frames() * encoder.blockCount());
                    // and the blocks in slices of 3 block-rows, within rounding of the one go
                    int slices = 0;
                    while (!encoding.advanceRows(3)) {
                        slices++;
                    }
                    assertThat(slices + 1).isGreaterThanOrEqualTo((int) Math.ceil(encoding.frames()
                            * encoder.blockCount() / 3.0));
                    try (NDArray out = encoding.take()) {
                        assertWithinRounding(out.toFloatArray(), whole.toFloatArray(), seconds + " s in 3-row slices");
                    }
                }
                // and in whole blocks (the prelude with the first), to the bit
                try (SpeechEncoding encoding = model.beginEncoding(audio)) {
                    assertThat(encoding.advanceBlocks(1)).isEqualTo(encoder.blockCount() == 1);
                    assertThat(encoding.preludeLeft()).isZero();
                    encoding.advanceBlocks(Integer.MAX_VALUE);
                    try (NDArray out = encoding.take()) {
                        assertThat(out.toFloatArray()).as("%s s in whole blocks", seconds)
                                .containsExactly(whole.toFloatArray());
                    }
                }
            }
        }
    }

    private static void assertWithinRounding(float[] actual, float[] expected, String what) {
        Closeness.assertWithinScale(actual, expected, ROW_TOLERANCE, what);
    }

    @Test
    void shouldRefuseAnEmptySliceAndAnUnfinishedTake() {
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            NDArray mel = model.frontend().forward(model.manager(), TinyModels.testAudio(0.5, 22));
            try (WhisperEncoder.Pass pass = encoder.begin(mel)) {
                assertThatThrownBy(() -> pass.advanceBlocks(0)).hasMessageContaining("at least 1 block");
                assertThatThrownBy(() -> pass.advanceRows(0)).hasMessageContaining("at least 1 block-row");
                assertThatThrownBy(pass::take).hasMessageContaining("not finished")
                        .hasMessageContaining(encoder.blockCount() + " blocks left");
            }
        }
    }
}
