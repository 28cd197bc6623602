package dev.omnicall.bridge.rtp;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.util.ArrayList;
import java.util.List;

/**
 * Fuzzes the RFC 4733 parser and the DTMF detector behind it. Seeds are the telephone-event payloads of
 * a sipp RFC 2833 replay (see CAPTURE.md beside the seed folders).
 */
class TelephoneEventFuzzTest {

    @FuzzTest(maxDuration = "30s")
    void parse(byte[] payload) {
        ParseResult<TelephoneEvent> result = TelephoneEvent.parse(payload); // must never throw
        List<DtmfDetector.DtmfDigit> digits = new ArrayList<>();
        DtmfDetector detector = new DtmfDetector(8000, digits::add);
        if (result instanceof ParseResult.Ok<TelephoneEvent> ok) {
            TelephoneEvent e = ok.value();
            assertThat(e.event()).isBetween(0, 255);
            assertThat(e.volume()).isBetween(0, 63);
            assertThat(e.duration()).isBetween(0, 65535);
            // the same event three times (as its end packets come) is reported at most once
            detector.onPacket(1234, e);
            detector.onPacket(1234, e);
            detector.onPacket(1234, e);
            assertThat(digits.size()).isLessThanOrEqualTo(1);
            if (e.isDtmf() && e.end()) {
                assertThat(digits).hasSize(1);
            }
        } else {
            assertThat(payload.length % TelephoneEvent.PAYLOAD_BYTES != 0 || payload.length == 0).isTrue();
        }
    }
}
