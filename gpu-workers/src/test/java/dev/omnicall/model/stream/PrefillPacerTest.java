package dev.omnicall.model.stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** The chunked prefill's pace: rows per slice from the measured step and per-row times. */
class PrefillPacerTest {

    @Test
    void shouldTakeTheMinimumUntilBothTimesAreMeasuredThenHalfAStepsWorth() {
        PrefillPacer pacer = new PrefillPacer(0.5, 8, 512);
        assertThat(pacer.rows()).isEqualTo(8);
        pacer.stepTook(40_000);   // a 40 ms step
        assertThat(pacer.rows()).isEqualTo(8);
        pacer.sliceTook(8, 4_000); // 0.5 ms a row
        // half of 40 ms at 0.5 ms a row
        assertThat(pacer.rows()).isEqualTo(40);
        // a slower row (smoothed) means fewer rows; never below the minimum nor above the maximum
        pacer.sliceTook(40, 200_000);
        assertThat(pacer.rows()).isLessThan(40).isGreaterThanOrEqualTo(8);
        PrefillPacer fast = new PrefillPacer(0.5, 8, 512);
        fast.stepTook(1_000_000);
        fast.sliceTook(100, 100);
        assertThat(fast.rows()).isEqualTo(512);
        assertThatThrownBy(() -> new PrefillPacer(0, 8, 512)).hasMessageContaining("share > 0");
        assertThatThrownBy(() -> new PrefillPacer(0.5, 9, 8)).hasMessageContaining("9..8");
    }

    @Test
    void shouldFitUnitsOfAGivenCostIntoHalfAStepBetweenOneAndTheMost() {
        PrefillPacer pacer = new PrefillPacer(0.5, 8, 512);
        // no step measured yet: one unit
        assertThat(pacer.fit(1_000, 32)).isEqualTo(1);
        pacer.stepTook(40_000);   // a 40 ms step
        // half of 40 ms at 3 ms a unit: 6; at 30 ms: still 1; at 0.1 ms: the 32 left
        assertThat(pacer.fit(3_000, 32)).isEqualTo(6);
        assertThat(pacer.fit(30_000, 32)).isEqualTo(1);
        assertThat(pacer.fit(100, 32)).isEqualTo(32);
        // an unknown cost: one unit
        assertThat(pacer.fit(0, 32)).isEqualTo(1);
        assertThatThrownBy(() -> pacer.fit(1_000, 0)).hasMessageContaining("at least 1 unit");
    }

    @Test
    void shouldSizeRiddenRowsByWhatTheyAddToAStepGrowingByDoublings() {
        // Given a 40 ms step
        PrefillPacer pacer = new PrefillPacer(0.5, 8, 4096);
        assertThat(pacer.fusedRows()).isEqualTo(8);
        pacer.stepTook(40_000);
        assertThat(pacer.fusedRows()).isEqualTo(8);
        // When a step carrying 8 prompt rows took 42 ms (0.25 ms a row beyond the step)
        pacer.fusedStepTook(8, 42_000);
        // Then the next may take twice as many (half a step's worth, 80 rows, is more than a doubling)
        assertThat(pacer.fusedRows()).isEqualTo(16);
        pacer.fusedStepTook(16, 44_000);
        assertThat(pacer.fusedRows()).isEqualTo(32);
        // a step with rows that looks free (jitter) counts a hundredth of a step per row: never unbounded
        pacer.fusedStepTook(32, 30_000);
        assertThat(pacer.fusedRows()).isBetween(8, 64);
        // an expensive carry (10 ms a row beyond the step) brings it to the minimum; the plain step stays 40 ms
        PrefillPacer slow = new PrefillPacer(0.5, 8, 4096);
        slow.stepTook(40_000);
        slow.fusedStepTook(8, 120_000);
        assertThat(slow.fusedRows()).isEqualTo(8);
        assertThat(slow.rows()).isEqualTo(8);
    }

    @Test
    void shouldKeepEveryStepsRiddenRowsWithinHalfAStepWhenStepsWithRowsLookCheaperThanTheyAre() {
        // Given a 40 ms step and prompt rows that truly add 0.5 ms each to a step (costs injected, nothing timed)
        PrefillPacer pacer = new PrefillPacer(0.5, 8, 4096);
        long stepUs = 40_000;
        double rowUs = 500;
        pacer.stepTook(stepUs);
        // When the box makes six steps in a row run 20 ms (half a step) faster than their true cost, as a quieter
        // moment after the step was measured does
        long[] jitterUs = {0, -20_000, -20_000, -20_000, -20_000, -20_000, -20_000, 0, 0};
        double mostWorkUs = 0;
        for (long jitter : jitterUs) {
            int rows = pacer.fusedRows();
            double workUs = rows * rowUs;
            mostWorkUs = Math.max(mostWorkUs, workUs);
            pacer.fusedStepTook(rows, Math.round(stepUs + workUs + jitter));
        }
        // Then no step's rows truly cost more than half a step (smoothing every measurement alike, as the pacer did
        // before, took them to 85 rows, 1.06 steps, at the fifth step)
        assertThat(mostWorkUs).isLessThanOrEqualTo(0.5 * stepUs);
    }

    @Test
    void shouldCutTheRowsAtOnceAfterAStepWhoseRowsCostMoreThanPlanned() {
        // Given 16 rows at 1.25 ms a row beyond a 40 ms step: the next may take 16
        PrefillPacer pacer = new PrefillPacer(0.5, 4, 4096);
        pacer.stepTook(40_000);
        pacer.fusedStepTook(16, 60_000);
        assertThat(pacer.fusedRows()).isEqualTo(16);
        // When the next 16 rows add 40 ms (a whole step: the rows' cost doubled, or the box slowed)
        pacer.fusedStepTook(16, 80_000);
        // Then the next step takes the rows that fit half a step at the new cost, not a blend of old and new
        assertThat(pacer.fusedRows()).isEqualTo(8);
        // and a step with rows that looks no dearer than a step alone (within a tenth of a step) does not lower it
        pacer.fusedStepTook(8, 41_000);
        assertThat(pacer.fusedRows()).isEqualTo(8);
        // while a clearly cheaper one lowers it a third of the way: 2.5 -> 2.5 + (1.25 - 2.5) / 3 ms a row
        pacer.fusedStepTook(8, 50_000);
        assertThat(pacer.fusedRows()).isEqualTo(9);
    }
}
