package dev.omnicall.worker.engine;

import dev.omnicall.model.omni.EncoderSlices;
import dev.omnicall.model.omni.SlicedStart;
import dev.omnicall.model.stream.PrefillPacer;

/**
 * How an engine starts a newcomer in slices between its speaking turns' decode steps (chunked prefill), for either
 * model family ({@link SlicedStart}): per {@link Slices#advance()} the encoder first ({@link EncoderSlices}: with
 * {@code auto} the log-mel, the convolutions, then its blocks cut at rows at this turn's measured cost, half a step's
 * worth; one block per slice with a fixed row count), then the prompt rows. With fused prefill an advance in the
 * prompt's phase runs nothing: it arms the start as the rider, and the engine's next step carries its next rows in
 * the decode forward ({@link #takeRider()}, {@link #riderRows()}, {@link #stepDone}); an advance with no step since
 * (nobody speaks) runs the rows as a slice of their own. Without fused prefill each prompt slice is a forward of its
 * own ({@link PrefillPacer#rows()}: about half a step). One per engine: the pacer learns the engine's step and row
 * costs. Not thread-safe: the engine's thread only.
 *
 * @param <S> the engine's own kind of start (the rider it gets back is one of its own)
 */
public final class PrefillSlicing<S extends SlicedStart> {
    /** The share of a decode step one prefill slice may cost with {@code auto}. */
    static final double STEP_SHARE = 0.5;

    private final int sliceRows; // fixed rows per slice, 0 for one slice, -1 for the pacer's
    private final boolean fused;
    private final PrefillPacer pacer = new PrefillPacer(STEP_SHARE, 8, 4096);
    private S rider; // armed: its next prompt rows ride in the next step
    private S failedRider; // the last rider that could not give its rows in a step: its next advance throws
    private RuntimeException riderFailure;

    /**
     * @param sliceRows prompt rows per slice: -1 for the pacer's ({@code auto}), 0 for the encoder and the whole
     *                  prefill in one slice, else a fixed count (the encoder then one block per slice)
     * @param fused     the prompt rows ride in the decode steps (ignored with {@code sliceRows} 0)
     */
    public PrefillSlicing(int sliceRows, boolean fused) {
        if (sliceRows < -1) {
            throw new IllegalArgumentException("slice rows must be -1 (auto), 0 (one slice) or a count, got "
                    + sliceRows);
        }
        this.sliceRows = sliceRows;
        this.fused = fused;
    }

    /** The worker's settings: {@value OmniTurnEngine#PREFILL_SLICE_ROWS} and {@value OmniTurnEngine#FUSED_PREFILL}. */
    public static <S extends SlicedStart> PrefillSlicing<S> fromSystemProperties() {
        return new PrefillSlicing<>(OmniTurnEngine.sliceRows(System.getProperty(OmniTurnEngine.PREFILL_SLICE_ROWS,
                "auto")), OmniTurnEngine.fusedPrefill(System.getProperty(OmniTurnEngine.FUSED_PREFILL, "on")));
    }

    /** The same slicing with fused prefill off (an engine whose step cannot carry prompt rows). */
    public PrefillSlicing<S> withoutFusion() {
        return new PrefillSlicing<>(sliceRows, false);
    }

    /** True when a start is one slice (the encoder and the whole prefill at once). */
    public boolean oneSlice() {
        return sliceRows == 0;
    }

    /** The slices of one newcomer's start. */
    public Slices slices(S start) {
        return new Slices(start);
    }

    /** One newcomer's start in slices; {@link #close()} disarms it (the start itself stays the caller's). */
    public final class Slices implements AutoCloseable {
        private final S start;
        private final EncoderSlices encoder = new EncoderSlices(pacer, sliceRows > 0);

        private Slices(S start) {
            this.start = start;
        }

        /**
         * These slices as the engine's {@link TurnEngine.StartingSession}: ready once the start is (or its session
         * was taken), {@code take} makes the session once, and closing an unfinished start disarms the slices and
         * runs {@code closeStart}.
         */
        public TurnEngine.StartingSession startingSession(java.util.function.Supplier<EngineSession> take,
                Runnable closeStart) {
            return new TurnEngine.StartingSession() {
                private boolean taken;

                @Override
                public boolean ready() {
                    return start.isReady() || taken;
                }

                @Override
                public boolean advance() {
                    return Slices.this.advance();
                }

                @Override
                public void finish() {
                    Slices.this.finish();
                }

                @Override
                public EngineSession session() {
                    taken = true;
                    return take.get();
                }

                @Override
                public void close() {
                    Slices.this.close();
                    if (!taken) {
                        closeStart.run();
                    }
                }
            };
        }

        /** Runs (or, fused, arms) the next slice; true once the start is ready. */
        public boolean advance() {
            if (sliceRows != 0 && start.encoderBlocksLeft() > 0) {
                encoder.advance(start); // the encoder's blocks first, then the prompt rows
                return false;
            }
            if (failedRider == start) {
                failedRider = null;
                throw riderFailure; // its rows could not ride in a step: the scheduler fails this start alone
            }
            if (start.isReady()) {
                return true; // its last rows rode in a step
            }
            if (fused && sliceRows != 0) {
                if (rider != start) {
                    rider = start; // the next step carries its next rows
                    return false;
                }
                rider = null; // armed, but no step ran since: nobody to ride with, a slice of its own
            }
            int rows = sliceRows == 0 ? Integer.MAX_VALUE : sliceRows > 0 ? sliceRows : pacer.rows();
            int ran = Math.min(rows, start.rowsLeft());
            long t0 = System.nanoTime();
            boolean ready = start.advance(rows);
            pacer.sliceTook(ran, (System.nanoTime() - t0) / 1000);
            return ready;
        }

        /** All that is left at once (nobody waits for the slices). */
        public void finish() {
            close();
            start.advance(Integer.MAX_VALUE);
        }

        @Override
        public void close() {
            if (rider == start) {
                rider = null;
            }
            if (failedRider == start) {
                failedRider = null;
            }
        }
    }

    /** The armed start whose next rows ride in the step about to run, or null; disarmed by taking it. */
    public S takeRider() {
        S riding = rider;
        rider = null;
        return riding;
    }

    /** Prompt rows the rider may bring into the step: the fixed count, or what adds about half a step (measured). */
    public int riderRows() {
        return sliceRows > 0 ? sliceRows : pacer.fusedRows();
    }

    /**
     * The step ran, {@code riding} taken before it (or null), {@code fusedRows} of its rows in the step's forward (0:
     * none), {@code failure} why its rows could not ride (null: none; its next advance throws it), in {@code tookUs}.
     */
    public void stepDone(S riding, int fusedRows, RuntimeException failure, long tookUs) {
        if (failure != null) {
            failedRider = riding;
            riderFailure = failure;
        }
        if (fusedRows > 0) {
            pacer.fusedStepTook(fusedRows, tookUs);
        } else if (riding == null) {
            pacer.stepTook(tookUs);
        }
    }
}
