package dev.omnicall.model.stream;

/**
 * How many prompt rows a newcomer's prefill slice (LLaMA-Omni's
 * {@link dev.omnicall.model.omni.TurnStart#advance}) may take so that it costs at most
 * {@code share} of one decode step of the speaking turns: the driver reports each step's time and each slice's time
 * and rows; the pace is the measured time per prefill row (a slice's fixed cost included, so it errs small) against
 * the measured step time (smoothed). The per-row cost leans the safe way, so that a measurement the box's jitter made
 * look cheap does not oversize the next slice (issue 14 item 3: no loop's paced work over one step): a slower row
 * raises it at once, a faster one lowers it a third of the way, and only when the rows' work stood out of the step's
 * jitter ({@link #NOISE_SHARE} of a step). Until both are measured a slice takes {@code minRows}. A speaking turn's
 * gap between two chunks then grows by about {@code share} of a step for each loop of the newcomer's start inside it.
 * Not thread-safe: the engine's thread uses it.
 */
public final class PrefillPacer {
    /**
     * Rows whose measured work is below this share of a step tell the box's jitter more than their cost (a plain step
     * alone ran up to about half a step over its median on the shared 2-core box): they may raise the per-row cost,
     * never lower it.
     */
    static final double NOISE_SHARE = 0.1;

    private final double share;
    private final int minRows;
    private final int maxRows;
    private double stepUs = -1;
    private double usPerRow = -1;
    private double fusedUsPerRow = -1; // a prompt row's cost inside a decode step's forward (what it adds to the step)
    private int lastFusedRows; // rows the last fused step carried: the next may take at most twice as many

    public PrefillPacer(double share, int minRows, int maxRows) {
        if (!(share > 0) || minRows < 1 || maxRows < minRows) {
            throw new IllegalArgumentException("prefill pace needs share > 0 and 1 <= minRows <= maxRows, got share "
                    + share + ", rows " + minRows + ".." + maxRows);
        }
        this.share = share;
        this.minRows = minRows;
        this.maxRows = maxRows;
    }

    /** A decode step of the speaking turns took this long. */
    public void stepTook(long micros) {
        stepUs = stepUs < 0 ? micros : 0.7 * stepUs + 0.3 * micros;
    }

    /** A prefill slice of {@code rows} rows took this long. */
    public void sliceTook(int rows, long micros) {
        if (rows < 1) {
            return;
        }
        usPerRow = leanHigh(usPerRow, micros / (double) rows, stepUs >= 0 && micros < NOISE_SHARE * stepUs);
    }

    /**
     * The next per-row estimate after one of {@code measured}: the first as it is; a higher one at once; a lower one a
     * third of the way, unless {@code withinNoise} (then the estimate stays).
     */
    private static double leanHigh(double estimate, double measured, boolean withinNoise) {
        if (estimate < 0 || measured > estimate) {
            return measured;
        }
        return withinNoise ? estimate : estimate + (measured - estimate) / 3;
    }

    /**
     * How many units of work costing {@code usPerUnit} each fit one slice (at least 1, at most {@code max}); 1 until a
     * step was measured. The engine paces a newcomer's encoder blocks with it, from that turn's own cost per block (it
     * grows with the utterance, so one pace across turns would err).
     */
    public int fit(double usPerUnit, int max) {
        if (max < 1) {
            throw new IllegalArgumentException("a slice needs room for at least 1 unit, got " + max);
        }
        if (stepUs < 0 || !(usPerUnit > 0)) {
            return 1;
        }
        long n = (long) Math.floor(share * stepUs / usPerUnit);
        return (int) Math.max(1, Math.min(max, n));
    }

    /**
     * A decode step that carried {@code rows} of a newcomer's prompt rows in its own forward took this long: what it
     * took beyond the measured step is those rows' cost (not fed to the step's own estimate). Ignored before a plain
     * step was measured.
     */
    public void fusedStepTook(int rows, long micros) {
        if (rows < 1 || stepUs < 0) {
            return;
        }
        lastFusedRows = rows;
        // at least a hundredth of a step per row: the box's jitter can make a step with rows look free
        double extra = micros - stepUs;
        fusedUsPerRow = leanHigh(fusedUsPerRow, Math.max(extra, 0.01 * stepUs) / rows, extra < NOISE_SHARE * stepUs);
    }

    /**
     * Rows the next decode step may carry along ({@link #fusedStepTook}) so that they add about {@code share} of a
     * step: {@code minRows} until measured, then at most twice the last step's rows (a few rows measure the per-row
     * cost poorly, so the count grows by doublings, not in one jump), at most {@code maxRows}.
     */
    public int fusedRows() {
        if (stepUs < 0 || fusedUsPerRow <= 0) {
            return minRows;
        }
        long rows = (long) Math.floor(share * stepUs / fusedUsPerRow);
        return (int) Math.max(minRows, Math.min(Math.min(maxRows, 2L * lastFusedRows), rows));
    }

    /** Rows for the next slice. */
    public int rows() {
        if (stepUs < 0 || usPerRow <= 0) {
            return minRows;
        }
        long rows = (long) Math.floor(share * stepUs / usPerRow);
        return (int) Math.max(minRows, Math.min(maxRows, rows));
    }
}
