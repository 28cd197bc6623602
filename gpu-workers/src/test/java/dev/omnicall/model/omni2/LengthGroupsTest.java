package dev.omnicall.model.omni2;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The length grouping rule alone, on lengths only: what {@link LengthGroups#split} promises in its doc. */
class LengthGroupsTest {
    private static final LengthGroups DEFAULTS = LengthGroups.defaults(); // a quarter of padding, 3 batches

    private static double wasteShare(int[] lengths, List<int[]> batches) {
        long used = Arrays.stream(lengths).asLongStream().sum();
        long padded = LengthGroups.paddedCells(lengths, batches);
        return padded == 0 ? 0 : (padded - used) / (double) padded;
    }

    private static List<List<Integer>> asLists(List<int[]> batches) {
        List<List<Integer>> out = new ArrayList<>();
        batches.forEach(b -> out.add(Arrays.stream(b).boxed().toList()));
        return out;
    }

    @Test
    void shouldKeepRowsOfCloseLengthsInOneBatch() {
        // Given windows of 20-24 frames (9% padding in one batch)
        int[] lengths = {20, 22, 24, 21};
        // When they are grouped / Then one batch: the single padded forward
        assertThat(asLists(DEFAULTS.split(lengths))).containsExactly(List.of(0, 1, 2, 3));
    }

    @Test
    void shouldCutShortRowsFromLongOnesWhenPaddingWouldExceedTheShare() {
        // Given first pushes of 20 frames and final pushes of 100, interleaved (one batch: 40% padding)
        int[] lengths = {100, 20, 100, 20, 20, 100};
        assertThat(wasteShare(lengths, LengthGroups.single().split(lengths))).isEqualTo(0.4);
        // When they are grouped
        List<int[]> batches = DEFAULTS.split(lengths);
        // Then two batches, the long rows first, and no padding left
        assertThat(asLists(batches)).containsExactly(List.of(0, 2, 5), List.of(1, 3, 4));
        assertThat(wasteShare(lengths, batches)).isZero();
    }

    @Test
    void shouldNeverRunMoreBatchesThanTheBoundEvenWhenPaddingStaysAboveTheShare() {
        // Given ten rows of ten different lengths (one batch: 45% padding)
        int[] lengths = {10, 20, 30, 40, 50, 60, 70, 80, 90, 100};
        // When they are grouped with at most 3 batches and a share of a tenth
        LengthGroups tight = new LengthGroups(0.1, 3);
        List<int[]> batches = tight.split(lengths);
        // Then 3 batches (20% padding), still over the share (the bound, not the share, stopped the cuts), less than
        // half of one batch's
        assertThat(batches).hasSize(3);
        assertThat(wasteShare(lengths, batches)).isGreaterThan(tight.maxWaste())
                .isLessThan(wasteShare(lengths, LengthGroups.single().split(lengths)) / 2);
        // And with a looser share the same rows need fewer cuts
        assertThat(new LengthGroups(0.3, 10).split(lengths).size()).isLessThan(new LengthGroups(0.1, 10)
                .split(lengths).size());
    }

    @Test
    void shouldNeverCutRowsOfOneLengthApart() {
        // Given three rows of 50 and one of 5, a share of 0 and room for 4 batches
        int[] lengths = {50, 5, 50, 50};
        // When they are grouped / Then the rows of 50 stay together: two batches, not more
        assertThat(asLists(new LengthGroups(0, 4).split(lengths))).containsExactly(List.of(0, 2, 3), List.of(1));
    }

    @Test
    void shouldMakeTheCutThatRemovesTheMostPaddingFirst() {
        // Given rows of 100, 90, 10, 10, 10 (one batch: 54% padding), room for 2 batches
        int[] lengths = {10, 100, 10, 90, 10};
        // When they are grouped / Then the cut falls between 90 and 10 (saves 270 cells), not between 100 and 90 (40)
        assertThat(asLists(new LengthGroups(0.1, 2).split(lengths))).containsExactly(List.of(1, 3), List.of(0, 2, 4));
    }

    @Test
    void shouldPutEveryRowInExactlyOneBatchAndMeetTheShareOrTheBoundForRandomLengths() {
        SplittableRandom random = new SplittableRandom(14);
        for (int trial = 0; trial < 200; trial++) {
            // Given 1-40 rows of 1-300 frames
            int[] lengths = random.ints(random.nextInt(1, 41), 1, 301).toArray();
            LengthGroups groups = new LengthGroups(random.nextDouble(0, 0.5), random.nextInt(1, 5));
            // When they are grouped
            List<int[]> batches = groups.split(lengths);
            // Then every row once, batches longest first, never more than the bound, and the share met unless the
            // bound stopped the cuts
            int[] seen = new int[lengths.length];
            batches.forEach(b -> Arrays.stream(b).forEach(r -> seen[r]++));
            assertThat(seen).containsOnly(1);
            assertThat(batches.size()).isBetween(1, groups.maxGroups());
            for (int g = 1; g < batches.size(); g++) {
                int shortestBefore = Arrays.stream(batches.get(g - 1)).map(r -> lengths[r]).min().orElseThrow();
                int longestHere = Arrays.stream(batches.get(g)).map(r -> lengths[r]).max().orElseThrow();
                assertThat(longestHere).isLessThan(shortestBefore);
            }
            if (batches.size() < groups.maxGroups()) {
                assertThat(wasteShare(lengths, batches)).isLessThanOrEqualTo(groups.maxWaste() + 1e-12);
            }
        }
    }

    @Test
    void shouldReadTheSettingsAndNameTheKeyOfABadValue() {
        System.setProperty(LengthGroups.MAX_GROUPS_KEY, "2");
        System.setProperty(LengthGroups.MAX_WASTE_KEY, "0.4");
        try {
            assertThat(LengthGroups.fromSystemProperties()).isEqualTo(new LengthGroups(0.4, 2));
            System.setProperty(LengthGroups.MAX_GROUPS_KEY, "0");
            assertThatThrownBy(LengthGroups::fromSystemProperties).hasMessageContaining(LengthGroups.MAX_GROUPS_KEY)
                    .hasMessageContaining("at least 1");
            System.setProperty(LengthGroups.MAX_GROUPS_KEY, "two");
            assertThatThrownBy(LengthGroups::fromSystemProperties).hasMessageContaining(LengthGroups.MAX_GROUPS_KEY);
        } finally {
            System.clearProperty(LengthGroups.MAX_GROUPS_KEY);
            System.clearProperty(LengthGroups.MAX_WASTE_KEY);
        }
        assertThat(LengthGroups.fromSystemProperties()).isEqualTo(LengthGroups.defaults());
        assertThat(LengthGroups.single().split(new int[] {300, 1, 2})).hasSize(1);
        assertThat(DEFAULTS.split(new int[0])).isEmpty();
    }
}
