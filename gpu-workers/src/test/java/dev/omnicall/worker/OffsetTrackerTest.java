package dev.omnicall.worker;

import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

class OffsetTrackerTest {

    private static final TopicPartition TURNS = new TopicPartition("turn-requests", 0);
    private static final TopicPartition EVENTS = new TopicPartition("call-events", 0);

    @Test
    void shouldHoldCommitAtLowestUnfinishedOffsetWhenLaterTurnsFinishFirst() {
        // Given three turns read in order
        OffsetTracker tracker = new OffsetTracker();
        tracker.begin(TURNS, 7);
        tracker.begin(TURNS, 8);
        tracker.begin(TURNS, 9);
        // When the later two finish first
        tracker.finish(TURNS, 9);
        tracker.finish(TURNS, 8);
        // Then the safe position stays at the unfinished 7
        assertThat(tracker.safePosition(TURNS)).isEqualTo(7);
        assertThat(tracker.pendingCommits()).containsEntry(TURNS, 7L);
        // And moves past all three once 7 finishes
        tracker.finish(TURNS, 7);
        assertThat(tracker.safePosition(TURNS)).isEqualTo(10);
    }

    @Test
    void shouldReportOnlyPositionsThatMovedSinceLastCommit() {
        OffsetTracker tracker = new OffsetTracker();
        tracker.handled(TURNS, 0);
        Map<TopicPartition, Long> first = tracker.pendingCommits();
        assertThat(first).containsExactly(Map.entry(TURNS, 1L));

        tracker.markCommitted(first);

        assertThat(tracker.pendingCommits()).isEmpty();
        tracker.begin(TURNS, 1);
        assertThat(tracker.pendingCommits()).as("an unfinished turn does not move the position").isEmpty();
    }

    @Test
    void shouldHoldCallEventCommitUntilTurnsReadBeforeItFinishWhenTurnIsRunning() {
        // Given a running turn at offset 3 of turn-requests partition 0
        OffsetTracker tracker = new OffsetTracker();
        tracker.begin(TURNS, 3);
        // When call events at offsets 4 and 5 of call-events partition 0 are handled
        tracker.handledAfter(EVENTS, 4, TURNS);
        tracker.handledAfter(EVENTS, 5, TURNS);
        // Then their commit waits for the turn: the position stays at 4, the first of them
        assertThat(tracker.pendingCommits()).containsEntry(EVENTS, 4L);
        tracker.finish(TURNS, 3);
        assertThat(tracker.pendingCommits()).containsEntry(EVENTS, 6L).containsEntry(TURNS, 4L);
    }

    @Test
    void shouldCommitCallEventAtOnceWhenNoTurnIsRunning() {
        OffsetTracker tracker = new OffsetTracker();
        tracker.handledAfter(EVENTS, 0, TURNS);
        assertThat(tracker.pendingCommits()).containsEntry(EVENTS, 1L);
    }

    @Test
    void shouldForgetRevokedPartitions() {
        OffsetTracker tracker = new OffsetTracker();
        tracker.begin(TURNS, 3);
        tracker.handledAfter(EVENTS, 0, TURNS);
        tracker.forget(List.of(TURNS, EVENTS));
        assertThat(tracker.pendingCommits()).isEmpty();
        assertThat(tracker.safePosition(TURNS)).isEqualTo(-1);
    }
}
