package dev.omnicall.bridge.rtp;

import static org.assertj.core.api.Assertions.assertThat;

import dev.omnicall.bridge.rtp.DtmfDetector.DtmfDigit;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class DtmfDetectorTest {
    private final List<DtmfDigit> digits = new ArrayList<>();
    private final DtmfDetector detector = new DtmfDetector(8000, digits::add);

    @Test
    void shouldReportDigitOnceDespiteThreeEndPacketsPerRfc4733Section2_5_1_4() {
        long ts = 16_000;
        detector.onPacket(ts, new TelephoneEvent(7, false, 10, 160));
        detector.onPacket(ts, new TelephoneEvent(7, false, 10, 320));
        detector.onPacket(ts, new TelephoneEvent(7, true, 10, 800));
        detector.onPacket(ts, new TelephoneEvent(7, true, 10, 800)); // retransmission
        detector.onPacket(ts, new TelephoneEvent(7, true, 10, 800)); // retransmission
        assertThat(digits).containsExactly(new DtmfDigit('7', 100));
    }

    @Test
    void shouldReportSameDigitPressedTwiceAsTwoEventsByTimestampPerRfc4733Section2_5_1_3() {
        detector.onPacket(1000, new TelephoneEvent(1, true, 10, 400));
        detector.onPacket(1000, new TelephoneEvent(1, true, 10, 400));
        detector.onPacket(5000, new TelephoneEvent(1, true, 10, 400));
        assertThat(digits).extracting(DtmfDigit::digit).containsExactly('1', '1');
    }

    @Test
    void shouldReportDigitWhoseEndPacketsWereAllLostWhenNextEventStarts() {
        detector.onPacket(1000, new TelephoneEvent(4, false, 10, 160));
        detector.onPacket(1000, new TelephoneEvent(4, false, 10, 480));
        assertThat(digits).isEmpty();
        detector.onPacket(9000, new TelephoneEvent(9, false, 10, 160));
        assertThat(digits).containsExactly(new DtmfDigit('4', 60));
    }

    @Test
    void shouldIgnoreNonDtmfEventsPerRfc4733Section3_2() {
        detector.onPacket(1000, new TelephoneEvent(16, true, 10, 800)); // flash
        assertThat(digits).isEmpty();
    }
}
