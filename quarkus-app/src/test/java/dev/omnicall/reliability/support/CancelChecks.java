package dev.omnicall.reliability.support;

import dev.omnicall.events.TextDelta;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** Checks on the response-text of calls whose turns a worker cancelled. */
public final class CancelChecks {

    private CancelChecks() {
    }

    /**
     * Once every call's turn ended in a cancelled last delta: waits {@code quietMs} and asserts that no delta of
     * any call came after its cancel, that the cancel is each call's last delta, and that each call has one
     * last delta only.
     */
    public static void assertNothingGeneratedAfterTheCancel(Tail tail, List<String> calls, long quietMs) {
        Map<String, Integer> counts = new LinkedHashMap<>();
        calls.forEach(c -> counts.put(c, tail.deltasOf(c).size()));
        Waits.sleep(quietMs);
        for (String c : calls) {
            List<TextDelta> ds = tail.deltasOf(c);
            assertThat(ds).as("deltas of %s after its cancel", c).hasSize(counts.get(c));
            assertThat(ds.get(ds.size() - 1).getCancelled()).isTrue();
            assertThat(ds).filteredOn(TextDelta::getLast).hasSize(1);
        }
    }
}
