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
}
