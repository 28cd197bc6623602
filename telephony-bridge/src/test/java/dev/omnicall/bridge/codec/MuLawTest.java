package dev.omnicall.bridge.codec;

import static org.assertj.core.api.Assertions.assertThat;

import javax.sound.sampled.AudioFormat;
import org.junit.jupiter.api.Test;

class MuLawTest {
    private final G711 codec = MuLaw.INSTANCE;

    @Test
    void shouldDecodeEveryCodeExactlyAsJavaSoundDoes() throws Exception {
        short[] reference = JavaSound.decode(JavaSound.everyCode(), AudioFormat.Encoding.ULAW);
        assertThat(codec.decode(JavaSound.everyCode())).containsExactly(reference);
    }

    @Test
    void shouldEncodeLikeJavaSoundBelowClipLevelPerG711() throws Exception {
        // javax.sound wraps around for samples beyond the μ-law clip level (32635): -32768 becomes -0.
        // Below it, both must pick the same code for every one of the 16-bit samples.
        short[] all = JavaSound.everySample();
        byte[] reference = JavaSound.encode(all, AudioFormat.Encoding.ULAW);
        int compared = 0;
        for (int i = 0; i < all.length; i++) {
            if (Math.abs(all[i]) <= 32_635 - 0x84) {
                assertThat(codec.encode(all[i])).as("sample %d", all[i]).isEqualTo(reference[i]);
                compared++;
            }
        }
        assertThat(compared).isGreaterThan(65_000);
    }

    @Test
    void shouldClipFullScaleToLargestMagnitudeNotWrap() {
        assertThat(codec.decode(codec.encode(Short.MIN_VALUE))).isEqualTo((short) -32124);
        assertThat(codec.decode(codec.encode(Short.MAX_VALUE))).isEqualTo((short) 32124);
    }

    @Test
    void shouldReencodeEveryDecodedValueToItsOwnCode() {
        for (int code = 0; code < 256; code++) {
            if (code == 0x7F) {
                continue; // "-0" decodes to 0, which encodes as +0 (0xFF)
            }
            assertThat(codec.encode(codec.decode((byte) code)) & 0xFF).as("code %02x", code).isEqualTo(code);
        }
    }

    @Test
    void shouldUseFfAsSilenceAndPayloadTypeZeroPerRfc3551() {
        assertThat(codec.decode(codec.silence())).isZero();
        assertThat(codec.payloadType()).isZero();
        assertThat(codec.encodingName()).isEqualTo("PCMU");
        assertThat(G711.forPayloadType(0)).isSameAs(codec);
    }
}
