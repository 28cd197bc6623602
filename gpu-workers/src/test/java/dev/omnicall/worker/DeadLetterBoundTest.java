package dev.omnicall.worker;

import dev.omnicall.events.DeadLetter;
import dev.omnicall.kafka.DeadLetters;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class DeadLetterBoundTest {

    @Test
    void shouldCutOriginalValueAndSaySoWhenItExceedsTheBound() {
        // Given a dead letter carrying 100 bytes of original value
        byte[] value = new byte[100];
        for (int i = 0; i < value.length; i++) {
            value[i] = (byte) i;
        }
        DeadLetter dl = DeadLetters.of("turn-requests", 0, 5, "c1".getBytes(), value, "worker",
                new BadTurnRequestException("oversized", "too long"), "test");
        // When it is bounded to 40 bytes
        DeadLetter cut = InferenceWorker.bounded(dl, 40);
        // Then it keeps the first 40 bytes and the message says what happened
        byte[] kept = new byte[cut.getValue().remaining()];
        cut.getValue().duplicate().get(kept);
        assertThat(kept).hasSize(40).startsWith((byte) 0, (byte) 1).endsWith((byte) 39);
        assertThat(cut.getErrorMessage().toString()).contains("too long").contains("cut from 100 to 40 bytes");
        assertThat(cut.getOffset()).isEqualTo(5);
    }

    @Test
    void shouldLeaveSmallDeadLetterUnchanged() {
        DeadLetter dl = DeadLetters.of("turn-requests", 0, 5, null, new byte[10], "worker",
                new IllegalStateException("x"), "test");
        assertThat(InferenceWorker.bounded(dl, 40)).isSameAs(dl);
    }
}
