package dev.omnicall.model.omni;

import dev.omnicall.model.stream.PrefillPacer;

/**
 * How a driver runs one newcomer's encoder blocks in slices ({@link TurnStart#advanceEncoder}): one block first, then
 * as many as {@link PrefillPacer#fit} lets into a slice at this turn's own measured cost per block (it grows with the
 * utterance's length, so one pace across turns would err), or always one ({@code oneAtATime}: a driver with a fixed
 * prompt-row count, so tests can count slices). The worker's engine and {@code PrefillBenchmark} both drive with it.
 * Not thread-safe: one per starting turn.
 */
public final class EncoderSlices {
    private final PrefillPacer pacer;
    private final boolean oneAtATime;
    private double usPerBlock = -1; // measured on this turn's last slice; -1 before the first

    public EncoderSlices(PrefillPacer pacer, boolean oneAtATime) {
        this.pacer = pacer;
        this.oneAtATime = oneAtATime;
    }

    /** Runs the next slice of {@code start}'s encoder blocks; true once its speech rows are in the prompt. */
    public boolean advance(TurnStart start) {
        int left = start.encoderBlocksLeft();
        if (left == 0) {
            return start.advanceEncoder(1); // nothing left to run: true at once
        }
        int blocks = oneAtATime || usPerBlock < 0 ? 1 : pacer.fit(usPerBlock, left);
        long t0 = System.nanoTime();
        boolean done = start.advanceEncoder(blocks);
        usPerBlock = (System.nanoTime() - t0) / 1000.0 / Math.min(blocks, left);
        return done;
    }
}
