package dev.omnicall.model.tools;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class BenchmarkFiguresTest {
    @Test
    void shouldAverageTheTwoMiddleValuesForTheMedianOfAnEvenCount() {
        // Given four values out of order
        double[] values = {4, 1, 3, 2};

        // When / Then: the median is between the middle two, the upper median is the higher one (a measured value)
        assertThat(BenchmarkFigures.median(values)).isEqualTo(2.5);
        assertThat(BenchmarkFigures.median(new long[] {4, 1, 3, 2})).isEqualTo(2.5);
        assertThat(BenchmarkFigures.median(List.of(4.0, 1.0, 3.0, 2.0))).isEqualTo(2.5);
        assertThat(BenchmarkFigures.upperMedian(values)).isEqualTo(3);
        assertThat(BenchmarkFigures.upperMedian(new long[] {4, 1, 3, 2})).isEqualTo(3);
        assertThat(values).containsExactly(4, 1, 3, 2); // the caller's array is left as it was
    }

    @Test
    void shouldAgreeOnTheMiddleValueOfAnOddCount() {
        double[] values = {9, 5, 7};

        assertThat(BenchmarkFigures.median(values)).isEqualTo(7);
        assertThat(BenchmarkFigures.upperMedian(values)).isEqualTo(7);
        assertThat(BenchmarkFigures.nearestRank(values, 0.5)).isEqualTo(7);
    }

    @Test
    void shouldRankQuantilesByFloorAndPercentilesByNearestRank() {
        // Given the values 1..10
        List<Integer> values = List.of(10, 9, 8, 7, 6, 5, 4, 3, 2, 1);

        // Then quantile takes rank floor(q n), nearest rank ceil(q n) - 1 (both 0-based), both clamped
        assertThat(BenchmarkFigures.quantile(values, 0.9)).isEqualTo(10);
        assertThat(BenchmarkFigures.nearestRank(values, 0.9)).isEqualTo(9);
        assertThat(BenchmarkFigures.quantile(values, 0.5)).isEqualTo(6);
        assertThat(BenchmarkFigures.nearestRank(values, 0.5)).isEqualTo(5);
        assertThat(BenchmarkFigures.quantile(values, 1)).isEqualTo(10);
        assertThat(BenchmarkFigures.nearestRank(values, 1)).isEqualTo(10);
        assertThat(BenchmarkFigures.quantile(values, 0)).isEqualTo(1);
        assertThat(BenchmarkFigures.nearestRank(values, 0)).isEqualTo(1);
    }

    @Test
    void shouldGiveNotANumberForNoValues() {
        assertThat(BenchmarkFigures.median(new double[0])).isNaN();
        assertThat(BenchmarkFigures.quantile(new double[0], 0.5)).isNaN();
        assertThat(BenchmarkFigures.nearestRank(List.<Long>of(), 0.99)).isNaN();
    }

    @Test
    void shouldWriteFixedPointWithAPointAndTheKeyValueLineInOrder() {
        Map<String, String> results = new LinkedHashMap<>();
        results.put("load_start", "1.50");
        results.put("step_ms", BenchmarkFigures.fixed(12.3456, 2));
        results.put("ratio", BenchmarkFigures.fixed(2, 3));

        assertThat(BenchmarkFigures.keyValueLine(results)).isEqualTo("load_start=1.50 step_ms=12.35 ratio=2.000");
        assertThat(BenchmarkFigures.keyValueLine(Map.of())).isEmpty();
    }

    @Test
    void shouldReadTheOneMinuteLoadAverageAsANumberOrSayUnknown() {
        String load = BenchmarkFigures.loadAverage();

        assertThat(load).satisfiesAnyOf(l -> assertThat(l).isEqualTo("unknown"),
                l -> assertThat(Double.parseDouble(l)).isGreaterThanOrEqualTo(0));
    }
}
