package dev.omnicall.bridge.rtp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

class ReceptionStatsTest {

    @Test
    void shouldReportZeroJitterForPerfectlySpacedPacketsPerRfc3550Section6_4_1() {
        ReceptionStats s = new ReceptionStats(8000);
        for (int i = 0; i < 50; i++) {
            s.onPacket(i, 1000 + i * 160L, i * 20_000_000L, true);
        }
        assertThat(s.jitterMillis()).isZero();
        assertThat(s.lost()).isZero();
        assertThat(s.received()).isEqualTo(50);
    }

    @Test
    void shouldConvergeToMeanDeviationPerRfc3550AppendixA8() {
        // Given packets alternately 2 ms early and 2 ms late: |D| is 4 ms every packet
        ReceptionStats s = new ReceptionStats(8000);
        for (int i = 0; i < 500; i++) {
            long skewNanos = (i % 2 == 0 ? 2 : -2) * 1_000_000L;
            s.onPacket(i, i * 160L, i * 20_000_000L + skewNanos, true);
        }
        // Then J converges to 4 ms (J += (|D| - J)/16)
        assertThat(s.jitterMillis()).isCloseTo(4.0, within(0.05));
    }

    @Test
    void shouldCountLossAsExpectedMinusReceivedAcrossWrapPerRfc3550AppendixA3() {
        ReceptionStats s = new ReceptionStats(8000);
        int[] seqs = {65533, 65534, 0, 1, 3}; // 65535 and 2 are missing
        for (int i = 0; i < seqs.length; i++) {
            s.onPacket(seqs[i], i * 160L, i * 20_000_000L, true);
        }
        assertThat(s.expected()).isEqualTo(7);
        assertThat(s.lost()).isEqualTo(2);
    }
}
