package dev.omnicall.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;
import dev.omnicall.model.omni.OmniModel;
import org.junit.jupiter.api.Test;

/**
 * The Whisper encoder run a few blocks at a time ({@link WhisperEncoder#begin}, chunked prefill) against
 * {@link WhisperEncoder#forward} in one go (the obvious reference): the same operations in the same order, so the
 * same floats to the bit, whatever the slice size.
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
                        done = pass.advance(size);
                        slices++;
                        assertThat(pass.blocksLeft()).isEqualTo(Math.max(0, blocks - slices * size));
                    }
                    // Then as many slices as the size asks, and the same floats
                    assertThat(slices).as("slices of %d blocks", size).isEqualTo((blocks + size - 1) / size);
                    assertThat(pass.advance(1)).as("a finished pass stays finished").isTrue();
                    try (NDArray out = pass.take()) {
                        assertThat(out.getShape().get(0)).isEqualTo(pass.frames());
                        assertThat(out.toFloatArray()).as("slices of %d blocks", size).containsExactly(whole);
                    }
                }
            }
        }
    }

    @Test
    void shouldRefuseAnEmptySliceAndAnUnfinishedTake() {
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            NDArray mel = model.frontend().forward(model.manager(), TinyModels.testAudio(0.5, 22));
            try (WhisperEncoder.Pass pass = encoder.begin(mel)) {
                assertThatThrownBy(() -> pass.advance(0)).hasMessageContaining("at least 1 block");
                assertThatThrownBy(pass::take).hasMessageContaining("not finished")
                        .hasMessageContaining(encoder.blockCount() + " blocks left");
            }
        }
    }
}
