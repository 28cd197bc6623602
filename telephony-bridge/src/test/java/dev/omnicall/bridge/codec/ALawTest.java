package dev.omnicall.bridge.codec;

import static org.assertj.core.api.Assertions.assertThat;

import javax.sound.sampled.AudioFormat;
import org.junit.jupiter.api.Test;

class ALawTest {
    private final G711 codec = ALaw.INSTANCE;

    @Test
    void shouldDecodeEveryCodeExactlyAsJavaSoundDoes() throws Exception {
        short[] reference = JavaSound.decode(JavaSound.everyCode(), AudioFormat.Encoding.ALAW);
        assertThat(codec.decode(JavaSound.everyCode())).containsExactly(reference);
    }

    @Test
    void shouldEncodeEveryPositiveSampleLikeJavaSoundPerG711() throws Exception {
        short[] all = JavaSound.everySample();
        byte[] reference = JavaSound.encode(all, AudioFormat.Encoding.ALAW);
        for (int i = 0; i < all.length; i++) {
            if (all[i] >= 0) {
                assertThat(codec.encode(all[i])).as("sample %d", all[i]).isEqualTo(reference[i]);
            }
        }
    }

    @Test
    void shouldEncodeNegativeSamplesWithinOneStepOfJavaSound() throws Exception {
        // For negative samples the two differ on decision levels: we follow the G.191 / Sun reference
        // (arithmetic shift, then -x-1), javax.sound negates first. Both pick one of the two codes whose
        // levels bracket the sample, so the difference is at most one quantization step.
        short[] all = JavaSound.everySample();
        byte[] reference = JavaSound.encode(all, AudioFormat.Encoding.ALAW);
        int differ = 0;
        for (int i = 0; i < all.length; i++) {
            byte ours = codec.encode(all[i]);
            if (ours != reference[i]) {
                differ++;
                short a = codec.decode(ours);
                short b = codec.decode(reference[i]);
                assertThat(Math.min(a, b)).as("sample %d", all[i]).isLessThanOrEqualTo(all[i]);
                assertThat(Math.max(a, b)).as("sample %d", all[i]).isGreaterThanOrEqualTo((short) (all[i] - 8));
            }
        }
        assertThat(differ).isLessThan(1000);
    }

    @Test
    void shouldReencodeEveryDecodedValueToItsOwnCode() {
        for (int code = 0; code < 256; code++) {
            assertThat(codec.encode(codec.decode((byte) code)) & 0xFF).as("code %02x", code).isEqualTo(code);
        }
    }

    @Test
    void shouldUseD5AsSilenceAndPayloadTypeEightPerRfc3551() {
        assertThat(Math.abs(codec.decode(codec.silence()))).isEqualTo(8);
        assertThat(codec.payloadType()).isEqualTo(8);
        assertThat(G711.forPayloadType(8)).isSameAs(codec);
    }
}
