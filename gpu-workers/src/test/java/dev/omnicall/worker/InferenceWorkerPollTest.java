package dev.omnicall.worker;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * Issue 16 (an idle app stays idle): the worker's loop waits long in poll only when nothing is in hand. Records end a
 * poll at once either way (InferenceWorkerIT); what the timeout bounds is how soon the loop commits a finished turn's
 * offset and resumes paused turn-requests, which only matters while turns are in hand.
 */
class InferenceWorkerPollTest {

    @Test
    void shouldPollShortWhileTurnsAreInHand() {
        assertThat(InferenceWorker.pollTimeout(true)).isEqualTo(Duration.ofMillis(20));
    }

    @Test
    void shouldPollLongWhenIdleButWithinTheConsumerDeadlines() {
        Duration idle = InferenceWorker.pollTimeout(false);
        // an idle loop turned 50 times a second with the busy timeout
        assertThat(idle).isGreaterThanOrEqualTo(Duration.ofMillis(250));
        // a drain or a dead engine is noticed at the next turn of the loop: well within a second
        assertThat(idle).isLessThan(Duration.ofSeconds(1));
    }
}
