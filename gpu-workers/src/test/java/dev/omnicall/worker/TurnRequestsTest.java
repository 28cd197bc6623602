package dev.omnicall.worker;

import dev.omnicall.events.TurnRequest;
import dev.omnicall.kafka.SampleEvents;
import dev.omnicall.kafka.SerdeConfig;
import dev.omnicall.kafka.Topics;
import org.apache.kafka.common.serialization.Serde;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class TurnRequestsTest {

    private final Serde<TurnRequest> serde = Topics.TURN_REQUESTS.valueSerde(SerdeConfig.embedded());
    private final TurnRequests requests = new TurnRequests(serde.deserializer(), 2.0);

    private byte[] bytes(TurnRequest r) {
        return serde.serializer().serialize(Topics.TURN_REQUESTS.name(), r);
    }

    private static TurnRequest withAudio(int bytes) {
        return TurnRequest.newBuilder(SampleEvents.turnRequest("c1")).setAudio(ByteBuffer.wrap(new byte[bytes])).build();
    }

    private String reasonOf(byte[] key, byte[] value) {
        try {
            requests.read(Topics.TURN_REQUESTS.name(), key, value);
            return "accepted";
        } catch (BadTurnRequestException e) {
            assertThat(e.getMessage()).isNotBlank();
            return e.reason();
        }
    }

    @Test
    void shouldAcceptValidRequestAndConvertLittleEndianSamples() {
        TurnRequest r = TurnRequest.newBuilder(SampleEvents.turnRequest("c1"))
                .setAudio(ByteBuffer.wrap(new byte[]{1, 0, (byte) 0xff, (byte) 0xff})).build();

        TurnRequest read = requests.read(Topics.TURN_REQUESTS.name(), "c1".getBytes(), bytes(r));

        assertThat(TurnRequests.toInput(read).pcm16k()).containsExactly((short) 1, (short) -1);
        assertThat(TurnRequests.toInput(read).history()).hasSize(1);
    }

    @Test
    void shouldRejectEachKindOfBadRequestWithItsReason() {
        assertThat(reasonOf("c1".getBytes(), bytes(withAudio(0)))).isEqualTo("no-audio");
        assertThat(reasonOf("c1".getBytes(), bytes(withAudio(3)))).isEqualTo("odd-length");
        assertThat(reasonOf("c1".getBytes(), bytes(withAudio(2 * 16_000 * 2 + 2)))).isEqualTo("oversized");
        assertThat(reasonOf("c1".getBytes(), bytes(withAudio(2 * 16_000 * 2)))).isEqualTo("accepted");
        assertThat(reasonOf("c1".getBytes(), bytes(TurnRequest.newBuilder(withAudio(4)).setSampleRate(8000).build())))
                .isEqualTo("sample-rate");
        assertThat(reasonOf("other".getBytes(), bytes(withAudio(4)))).isEqualTo("key-mismatch");
        assertThat(reasonOf("c1".getBytes(), new byte[]{0, 0, 0, 0, 1, 42, 42})).isEqualTo("undecodable");
        assertThat(reasonOf("c1".getBytes(), null)).isEqualTo("undecodable");
    }

    @Test
    void shouldRefuseNonPositiveAudioCap() {
        assertThatThrownBy(() -> new TurnRequests(serde.deserializer(), 0)).hasMessageContaining("> 0");
    }
}
