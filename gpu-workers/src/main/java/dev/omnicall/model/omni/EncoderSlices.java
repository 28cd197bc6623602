package dev.omnicall.model.omni;

import dev.omnicall.model.stream.PrefillPacer;

/**
 * How a driver runs one newcomer's encoder in slices: the log-mel, then the convolutions, each a slice of its own;
 * then the blocks cut at any row ({@link TurnStart#advanceEncoderRows}), a small probe first
 * ({@link #FIRST_SLICE_OF_A_BLOCK} of a block's rows, so the slice whose cost is not known yet stays small), then as
 * many block-rows as {@link PrefillPacer#fit} lets into a slice at this turn's own measured cost per block-row (it
 * grows with the utterance's length, so one pace across turns would err; a slower slice raises it at once, a faster
 * one lowers it a third of the way, so one quick slice on a loaded box does not oversize the next); or one whole
 * block per slice, the prelude with the first ({@code oneAtATime}: a driver with a fixed prompt-row count, so tests
 * can count slices). Both worker engines (any {@link SlicedStart}) and {@code PrefillBenchmark} drive with it. Not thread-safe: one per
 * starting turn.
 */
public final class EncoderSlices {
    /** The probe slice, as a share of one block's rows: at most this much runs before the cost is measured. */
    public static final double FIRST_SLICE_OF_A_BLOCK = 1.0 / 16;

    private final PrefillPacer pacer;
    private final boolean oneAtATime;
    private double usPerBlockRow = -1; // this turn's, from its slices of blocks; -1 before the first

    public EncoderSlices(PrefillPacer pacer, boolean oneAtATime) {
        this.pacer = pacer;
        this.oneAtATime = oneAtATime;
    }

    /**
     * Runs the next slice of {@code start}'s encoder; true once its speech rows are in the prompt. A start with several
     * speeches to encode runs them one after another, this turn's measured cost carried from one to the next.
     */
    public boolean advance(SlicedStart start) {
        double left = start.encoderBlockRowsLeft();
        if (oneAtATime || left == 0) {
            return start.advanceEncoder(1); // nothing left to run: true at once
        }
        if (start.encoderPreludeLeft() > 0) {
            return start.advanceEncoderRows(1); // the log-mel or the convolutions, not cut
        }
        long blockRows = usPerBlockRow < 0
                ? Math.max(1, (long) Math.floor(start.encoderFrames() * FIRST_SLICE_OF_A_BLOCK))
                : pacer.fit(usPerBlockRow, (int) Math.min(Integer.MAX_VALUE, Math.ceil(left)));
        long t0 = System.nanoTime();
        boolean done = start.advanceEncoderRows(blockRows);
        double ran = left - start.encoderBlockRowsLeft(); // a slice always moves at least one row
        if (ran > 0) {
            double us = (System.nanoTime() - t0) / 1000.0 / ran;
            usPerBlockRow = usPerBlockRow < 0 || us > usPerBlockRow ? us : usPerBlockRow + (us - usPerBlockRow) / 3;
        }
        return done;
    }
}
