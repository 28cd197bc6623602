package dev.omnicall.model.stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The chunk-gap budget of chunked prefill: slices per speaking turn's gap between two chunks. */
class PrefillGapBudgetTest {

    @Test
    void shouldAllowASliceOnlyWhenEveryTurnHasHadAChunkSinceTheLastOne() {
        PrefillGapBudget<StringBuilder> budget = new PrefillGapBudget<>(1);
        StringBuilder a = new StringBuilder("a");
        StringBuilder b = new StringBuilder("a"); // equal to a, but another turn: keys count by identity
        assertThat(budget.mayRun(List.of(a, b))).isTrue();
        budget.sliceRan(List.of(a, b));
        assertThat(budget.mayRun(List.of(a, b))).isFalse();
        budget.chunk(a);
        assertThat(budget.slicesInGap(a)).isZero();
        assertThat(budget.slicesInGap(b)).isEqualTo(1);
        assertThat(budget.mayRun(List.of(a, b))).isFalse();
        // a turn that stopped speaking no longer holds slices back
        assertThat(budget.mayRun(List.of(a))).isTrue();
        budget.chunk(b);
        assertThat(budget.mayRun(List.of(a, b))).isTrue();
        // a turn that started speaking after a slice has nothing in its gap
        StringBuilder c = new StringBuilder("c");
        budget.sliceRan(List.of(a));
        assertThat(budget.mayRun(List.of(c))).isTrue();
        assertThat(budget.mayRun(List.of(a, c))).isFalse();
    }

    @Test
    void shouldCountUpToTheSlicesAGapMayHoldAndForgetTurnsThatLeft() {
        PrefillGapBudget<String> budget = new PrefillGapBudget<>(2);
        String a = "a";
        String gone = "gone";
        budget.sliceRan(List.of(a, gone));
        assertThat(budget.mayRun(List.of(a))).isTrue();
        budget.sliceRan(List.of(a)); // gone left: forgotten
        assertThat(budget.slicesInGap(gone)).isZero();
        assertThat(budget.slicesInGap(a)).isEqualTo(2);
        assertThat(budget.mayRun(List.of(a))).isFalse();
        assertThatThrownBy(() -> new PrefillGapBudget<String>(0)).hasMessageContaining("at least one");
    }

    @Test
    void shouldHoldASliceBackOnlyForATurnWithAFullGapThatIsShortOfTheMargin() {
        PrefillGapBudget<String> budget = new PrefillGapBudget<>(1);
        String a = "a";
        String b = "b";
        java.util.Map<String, Long> margin = new java.util.HashMap<>(java.util.Map.of(a, 900_000L, b, 900_000L));
        long threshold = 500_000;
        // Given a slice in both turns' gaps, both 900 ms ahead of playback: nobody is short, so more slices may run
        budget.sliceRan(List.of(a, b));
        assertThat(budget.mayRun(List.of(a, b), margin::get, threshold)).isTrue();
        budget.sliceRan(List.of(a, b));
        assertThat(budget.slicesInGap(a)).isEqualTo(2);
        // When b falls short of the margin mid-gap, it holds the next slice back at once (its gap is already full)
        margin.put(b, 499_999L);
        assertThat(budget.mayRun(List.of(a, b), margin::get, threshold)).isFalse();
        // and exactly at the margin it does not
        margin.put(b, threshold);
        assertThat(budget.mayRun(List.of(a, b), margin::get, threshold)).isTrue();
        // Then a turn short of the margin with an empty gap holds nothing back: its chunk opened a new gap
        margin.put(b, -20_000L);
        budget.chunk(b);
        assertThat(budget.mayRun(List.of(a, b), margin::get, threshold)).isTrue();
        budget.sliceRan(List.of(a, b));
        assertThat(budget.mayRun(List.of(a, b), margin::get, threshold)).isFalse();
        // and with no threshold (Long.MAX_VALUE) every turn is held to the budget whatever its margin: the plain bound
        budget.chunk(b);
        assertThat(budget.mayRun(List.of(a, b), margin::get, Long.MAX_VALUE)).isFalse();
        assertThat(budget.mayRun(List.of(a, b))).isFalse();
        assertThat(budget.mayRun(List.of(b), margin::get, Long.MAX_VALUE)).isTrue();
    }
}
