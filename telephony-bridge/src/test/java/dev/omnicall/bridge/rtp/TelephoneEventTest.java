package dev.omnicall.bridge.rtp;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class TelephoneEventTest {

    @Test
    void shouldReadEventEndVolumeAndDurationPerRfc4733Section2_3() throws Exception {
        byte[] payload = {
                0x05,              // event 5 (digit '5')
                (byte) 0x8A,       // E=1 R=0 volume=10
                0x03, 0x20         // duration 800 (100 ms at 8 kHz)
        };
        TelephoneEvent e = TelephoneEvent.parse(payload).orThrow();
        assertThat(e.event()).isEqualTo(5);
        assertThat(e.end()).isTrue();
        assertThat(e.volume()).isEqualTo(10);
        assertThat(e.duration()).isEqualTo(800);
        assertThat(e.digit()).isEqualTo('5');
    }

    @Test
    void shouldIgnoreReservedBitPerRfc4733Section2_3_3() throws Exception {
        byte[] payload = {
                0x0B,              // event 11 '#'
                0x40 | 0x07,       // E=0 R=1 volume=7
                0x00, (byte) 0xA0  // duration 160
        };
        TelephoneEvent e = TelephoneEvent.parse(payload).orThrow();
        assertThat(e.end()).isFalse();
        assertThat(e.volume()).isEqualTo(7);
        assertThat(e.digit()).isEqualTo('#');
    }

    @Test
    void shouldMapEvents10To15ToStarHashAndABCDPerRfc4733Section3_2() throws Exception {
        String expected = "*#ABCD";
        for (int event = 10; event <= 15; event++) {
            TelephoneEvent e = TelephoneEvent.parse(new byte[] {(byte) event, 0, 0, 0}).orThrow();
            assertThat(e.digit()).isEqualTo(expected.charAt(event - 10));
        }
        assertThat(TelephoneEvent.parse(new byte[] {16, 0, 0, 0}).orThrow().isDtmf()).isFalse();
    }

    @Test
    void shouldTakeLastBlockOfMultiEventPayloadPerRfc4733Section2_5_1_5() throws Exception {
        byte[] payload = {
                0x01, (byte) 0x80, 0x03, 0x20, // earlier event 1, ended (redundant copy)
                0x02, 0x0A, 0x00, (byte) 0xA0  // current event 2
        };
        assertThat(TelephoneEvent.parse(payload).orThrow().digit()).isEqualTo('2');
    }

    @Test
    void shouldRejectPayloadShorterThanFourBytesPerRfc4733Section2_3() {
        ParseResult<TelephoneEvent> r = TelephoneEvent.parse(new byte[] {1, 2, 3});
        assertThat(r).isInstanceOf(ParseResult.Failed.class);
        assertThat(((ParseResult.Failed<TelephoneEvent>) r).error())
                .isInstanceOf(TelephoneEventException.class)
                .hasMessage("payload is 3 bytes, a telephone-event needs 4");
    }

    @Test
    void shouldRejectPayloadThatIsNotWholeEvents() {
        ParseResult<TelephoneEvent> r = TelephoneEvent.parse(new byte[] {1, 2, 3, 4, 5, 6});
        assertThat(((ParseResult.Failed<TelephoneEvent>) r).error())
                .hasMessage("payload is 6 bytes, not a whole number of 4-byte events");
    }

    @Test
    void shouldRoundTripThroughBytes() throws Exception {
        TelephoneEvent e = new TelephoneEvent(9, true, 63, 65535);
        assertThat(TelephoneEvent.parse(e.toBytes()).orThrow()).isEqualTo(e);
    }
}
