package dev.omnicall.model.omni;

import java.util.ArrayList;
import java.util.List;

/**
 * Ω, the unit chunk size (paper Algorithm 1, Table 2): a chunk is vocoded as soon as at least Ω new
 * units exist. A schedule lets the first chunks be small (fast first audio) and later ones larger
 * (fewer seams): {@code "10,20,40,80"} uses 10 for the first chunk, 20 for the second, 80 from the
 * fourth on. {@code "inf"} vocodes once, at the end of the turn (Ω = +∞, the paper's main setting).
 */
public final class ChunkSchedule {
    private final int[] sizes;

    private ChunkSchedule(int[] sizes) {
        this.sizes = sizes;
    }

    public static ChunkSchedule parse(String text) {
        if (text == null || text.isBlank()) {
            throw new IllegalArgumentException("chunk schedule is empty; use e.g. '40', '10,20,40' or 'inf'");
        }
        List<Integer> sizes = new ArrayList<>();
        for (String part : text.split(",")) {
            String p = part.trim().toLowerCase();
            if (p.equals("inf") || p.equals("infinity") || p.equals("+inf")) {
                sizes.add(Integer.MAX_VALUE);
                continue;
            }
            try {
                int v = Integer.parseInt(p);
                if (v < 1) {
                    throw new IllegalArgumentException("chunk size " + v + " in '" + text + "' must be >= 1");
                }
                sizes.add(v);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("chunk schedule '" + text + "' has '" + part
                        + "', which is neither a positive integer nor 'inf'");
            }
        }
        return new ChunkSchedule(sizes.stream().mapToInt(Integer::intValue).toArray());
    }

    public static ChunkSchedule fixed(int omega) {
        return parse(Integer.toString(omega));
    }

    public static ChunkSchedule atEnd() {
        return parse("inf");
    }

    /** Ω for the chunk with this index (0-based); the last entry repeats. */
    public int sizeFor(int chunkIndex) {
        return sizes[Math.min(chunkIndex, sizes.length - 1)];
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder();
        for (int s : sizes) {
            sb.append(sb.length() == 0 ? "" : ",").append(s == Integer.MAX_VALUE ? "inf" : Integer.toString(s));
        }
        return sb.toString();
    }
}
