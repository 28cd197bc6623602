package dev.omnicall.model.omni;

/**
 * A newcomer's start that runs in slices between the speaking turns' decode steps (chunked prefill), whatever its
 * model: first its encoder (the log-mel and the convolutions a piece each, then the blocks, whole or cut at rows),
 * then its prompt rows into the LLM cache. What {@link EncoderSlices} and the worker's engines drive; LLaMA-Omni's
 * {@link TurnStart} and LLaMA-Omni2's start implement it. Not thread-safe.
 */
public interface SlicedStart {
    /** The encoder's blocks still to run, the one in progress included; 0 once every speech row is in the prompt. */
    int encoderBlocksLeft();

    /** The encoder's pieces before its blocks still to run: 2 (log-mel, convolutions), 1 or 0. */
    int encoderPreludeLeft();

    /** The encoder's work left in block-rows (0 once its rows are in the prompt). */
    double encoderBlockRowsLeft();

    /** The encoder's frames (a block's rows), or 0 once its rows are in the prompt. */
    long encoderFrames();

    /** The prelude if it has not run and up to {@code maxBlocks} (≥ 1) more blocks; true once the rows are in. */
    boolean advanceEncoder(int maxBlocks);

    /** The next prelude piece alone, or at most {@code blockRows} (≥ 1) block-rows; true once the rows are in. */
    boolean advanceEncoderRows(long blockRows);

    /** True once the whole prompt is in the cache. */
    boolean isReady();

    /** Prompt rows still to prefill. */
    int rowsLeft();

    /** Prefills up to {@code maxRows} (≥ 1) more prompt rows (an unfinished encoder first); true once ready. */
    boolean advance(int maxRows);
}
