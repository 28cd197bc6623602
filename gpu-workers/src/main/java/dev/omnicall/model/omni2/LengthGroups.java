package dev.omnicall.model.omni2;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * How the rows of one batched stage (the flow's windows, HiFT's chunks of several replies) are cut into a few batches
 * of similar length, so that padding every row to its batch's longest wastes a bounded share of the work while the
 * number of native calls stays small.
 *
 * <p>The rule ({@link #split}): sort the rows by length, longest first; start with one batch of all (the single
 * padded forward). While the padded cells (Σ over batches of rows × longest row) hold more than {@code maxWaste} of
 * padding (cells that are not a row's own) and there are fewer than {@code maxGroups} batches, make the one cut,
 * between two neighbours of the sorted order inside one batch, that removes the most padded cells. Rows of one length
 * are never cut apart. So rows within the share stay one batch (one call per stage, as before), and a step never
 * runs a stage more than {@code maxGroups} times; the share can stay above {@code maxWaste} only when
 * {@code maxGroups} batches were not enough.
 *
 * @param maxWaste the share of padded cells allowed to be padding, from 0 to 1 (1: never cut)
 * @param maxGroups the most batches one stage runs in (1: always the single padded forward)
 */
public record LengthGroups(double maxWaste, int maxGroups) {
    /** System property: the most batches per stage (default {@value #DEFAULT_MAX_GROUPS}; 1 = one padded forward). */
    public static final String MAX_GROUPS_KEY = "omnicall.worker.omni2.length-groups";
    /** System property: the padding share that makes a cut (default {@value #DEFAULT_MAX_WASTE}). */
    public static final String MAX_WASTE_KEY = "omnicall.worker.omni2.padding-waste";
    public static final int DEFAULT_MAX_GROUPS = 3;
    public static final double DEFAULT_MAX_WASTE = 0.25;

    public LengthGroups {
        if (!(maxWaste >= 0 && maxWaste <= 1)) {
            throw new IllegalArgumentException("the padding share must be from 0 to 1, got " + maxWaste);
        }
        if (maxGroups < 1) {
            throw new IllegalArgumentException("a stage runs in at least 1 batch, got " + maxGroups);
        }
    }

    /** Every row in one batch padded to the longest: the single padded forward (the reference). */
    public static LengthGroups single() {
        return new LengthGroups(1, 1);
    }

    /** The defaults: at most 3 batches, cut while more than a quarter of the padded cells is padding. */
    public static LengthGroups defaults() {
        return new LengthGroups(DEFAULT_MAX_WASTE, DEFAULT_MAX_GROUPS);
    }

    /** From {@value #MAX_GROUPS_KEY} and {@value #MAX_WASTE_KEY} (absent: the defaults); a bad value names its key. */
    public static LengthGroups fromSystemProperties() {
        String groups = System.getProperty(MAX_GROUPS_KEY, String.valueOf(DEFAULT_MAX_GROUPS)).strip();
        String waste = System.getProperty(MAX_WASTE_KEY, String.valueOf(DEFAULT_MAX_WASTE)).strip();
        int g;
        double w;
        try {
            g = Integer.parseInt(groups);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(MAX_GROUPS_KEY + " '" + groups + "' is not a whole number", e);
        }
        try {
            w = Double.parseDouble(waste);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(MAX_WASTE_KEY + " '" + waste + "' is not a number", e);
        }
        try {
            return new LengthGroups(w, g);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(MAX_GROUPS_KEY + "/" + MAX_WASTE_KEY + ": " + e.getMessage(), e);
        }
    }

    /**
     * The batches for rows of these lengths (≥ 0): each an array of row indices, ascending; the batches longest
     * first. Every row is in exactly one batch; no rows, no batches.
     */
    public List<int[]> split(int[] lengths) {
        if (lengths.length == 0) {
            return List.of();
        }
        for (int i = 0; i < lengths.length; i++) {
            if (lengths[i] < 0) {
                throw new IllegalArgumentException("row " + i + " has length " + lengths[i]);
            }
        }
        // the rows longest first; a batch is a range [from, to) of this order, its longest row at from
        Integer[] order = new Integer[lengths.length];
        Arrays.setAll(order, i -> i);
        Arrays.sort(order, Comparator.comparingInt((Integer i) -> lengths[i]).reversed());
        int[] sorted = new int[order.length];
        Arrays.setAll(sorted, k -> lengths[order[k]]);
        long used = Arrays.stream(sorted).asLongStream().sum();
        List<Integer> starts = new ArrayList<>(List.of(0)); // each batch's first place in the order
        while (starts.size() < maxGroups) {
            long padded = padded(sorted, starts);
            if (padded - used <= maxWaste * padded) {
                break;
            }
            // the cut that removes the most padded cells: the rows after it padded to their own longest instead
            int bestCut = -1;
            long bestSaving = 0;
            for (int g = 0; g < starts.size(); g++) {
                int from = starts.get(g);
                int to = g + 1 < starts.size() ? starts.get(g + 1) : sorted.length;
                for (int cut = from + 1; cut < to; cut++) {
                    long saving = (long) (to - cut) * (sorted[from] - sorted[cut]);
                    if (sorted[cut] < sorted[cut - 1] && saving > bestSaving) {
                        bestSaving = saving;
                        bestCut = cut;
                    }
                }
            }
            if (bestCut < 0) {
                break; // every batch's rows are of one length
            }
            starts.add(bestCut);
            starts.sort(null);
        }
        List<int[]> batches = new ArrayList<>(starts.size());
        for (int g = 0; g < starts.size(); g++) {
            int from = starts.get(g);
            int to = g + 1 < starts.size() ? starts.get(g + 1) : sorted.length;
            int[] rows = new int[to - from];
            for (int k = from; k < to; k++) {
                rows[k - from] = order[k];
            }
            Arrays.sort(rows);
            batches.add(rows);
        }
        return batches;
    }

    /** Σ over the batches of rows × longest row: what the padded forwards compute. */
    private static long padded(int[] sorted, List<Integer> starts) {
        long cells = 0;
        for (int g = 0; g < starts.size(); g++) {
            int from = starts.get(g);
            int to = g + 1 < starts.size() ? starts.get(g + 1) : sorted.length;
            cells += (long) (to - from) * sorted[from];
        }
        return cells;
    }

    /** The padded cells of rows of these lengths run in these batches (all rows in one batch: the single forward). */
    public static long paddedCells(int[] lengths, List<int[]> batches) {
        long cells = 0;
        for (int[] batch : batches) {
            int longest = 0;
            for (int row : batch) {
                longest = Math.max(longest, lengths[row]);
            }
            cells += (long) batch.length * longest;
        }
        return cells;
    }
}
