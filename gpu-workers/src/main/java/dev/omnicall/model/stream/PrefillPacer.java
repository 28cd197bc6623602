package dev.omnicall.model.stream;

/**
 * How many prompt rows a newcomer's prefill slice (LLaMA-Omni's
 * {@link dev.omnicall.model.omni.TurnStart#advance}) may take so that it costs at most
 * {@code share} of one decode step of the speaking turns: the driver reports each step's time and each slice's time
 * and rows; the pace is the measured time per prefill row (a slice's fixed cost included, so it errs small) against
 * the measured step time, both smoothed. Until both are measured a slice takes {@code minRows}. A speaking turn's
 * gap between two chunks then grows by at most {@code share} of a step for each loop of the newcomer's start inside
 * it. Not thread-safe: the engine's thread uses it.
 */
public final class PrefillPacer {
    private final double share;
    private final int minRows;
    private final int maxRows;
    private double stepUs = -1;
    private double usPerRow = -1;

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
        double perRow = micros / (double) rows;
        usPerRow = usPerRow < 0 ? perRow : 0.7 * usPerRow + 0.3 * perRow;
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

    /** Rows for the next slice. */
    public int rows() {
        if (stepUs < 0 || usPerRow <= 0) {
            return minRows;
        }
        long rows = (long) Math.floor(share * stepUs / usPerRow);
        return (int) Math.max(minRows, Math.min(maxRows, rows));
    }
}
