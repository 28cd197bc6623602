package dev.omnicall.bridge.kafka;

import dev.omnicall.bridge.call.CallEvents;
import dev.omnicall.bridge.sdp.AudioCodec;
import dev.omnicall.events.CallEvent;
import dev.omnicall.events.EndReason;
import org.junit.jupiter.api.Test;

import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/** Which calls the orphan sweep reports, from call-events in offset order (no Kafka). */
class OrphanLedgerTest {

    private static final String ME = "bridge-0";
    private final CallEvents mine = new CallEvents(ME);
    private final CallEvents other = new CallEvents("bridge-1");

    private static CallEvent startedBy(CallEvents by, String callId, long us) {
        return by.started(callId, us, "sip:caller@x", "sip:omnicall@x", AudioCodec.PCMU, 20);
    }

    @Test
    void shouldReportACallOfThisBridgeThatNeverEnded() {
        // Given a CallStarted and a PlaybackStarted of this bridge, and nothing after
        OrphanSweep.Ledger ledger = new OrphanSweep.Ledger(ME);
        ledger.accept(2, startedBy(mine, "a", 100));
        ledger.accept(2, mine.playbackStarted("a", 900, 0, 0, 800, 850));

        // When the ledger is asked, Then the call is an orphan, first and last seen as stamped
        assertThat(ledger.live(Set.of())).containsExactly(new OrphanSweep.Orphan("a", 2, 100, 900));
    }

    @Test
    void shouldNotReportACallThatEndedWhateverTheReasonOrWhoEndedIt() {
        // Given three calls of this bridge: one hung up, one ended by an earlier sweep, one ended by another bridge
        OrphanSweep.Ledger ledger = new OrphanSweep.Ledger(ME);
        for (String c : new String[]{"hung-up", "swept", "taken-over"}) {
            ledger.accept(0, startedBy(mine, c, 100));
        }
        ledger.accept(0, mine.ended("hung-up", 200, EndReason.CALLER_HANGUP, null));
        ledger.accept(0, mine.ended("swept", 200, EndReason.BRIDGE_LOST, "bridge restarted"));
        ledger.accept(0, other.ended("taken-over", 200, EndReason.ERROR, null));

        // When the ledger is asked, Then none is an orphan
        assertThat(ledger.live(Set.of())).isEmpty();
    }

    @Test
    void shouldIgnoreTheCallsOfOtherBridges() {
        // Given a live call of another bridge on an owned partition (its count changed, say)
        OrphanSweep.Ledger ledger = new OrphanSweep.Ledger(ME);
        ledger.accept(1, startedBy(other, "theirs", 100));

        // When the ledger is asked, Then it is not this bridge's to end
        assertThat(ledger.live(Set.of())).isEmpty();
    }

    @Test
    void shouldReportACallWhoseCallStartedIsOlderThanTheWindowWhenALaterEventIsInIt() {
        // Given only a DTMF and a barge-in of a call whose CallStarted lies before the look-back
        OrphanSweep.Ledger ledger = new OrphanSweep.Ledger(ME);
        ledger.accept(0, mine.dtmf("long", 5_000, '5', 100));
        ledger.accept(0, mine.bargeIn("long", 6_000, 3, 0));

        // When the ledger is asked, Then the call is still found
        assertThat(ledger.live(Set.of())).extracting(OrphanSweep.Orphan::callId).containsExactly("long");
    }

    @Test
    void shouldNotRaiseACallFromTheDeadWhenAnEventFollowsItsCallEnded() {
        // Given a PlaybackStarted that the dead run published after the call's CallEnded
        OrphanSweep.Ledger ledger = new OrphanSweep.Ledger(ME);
        ledger.accept(0, startedBy(mine, "done", 100));
        ledger.accept(0, mine.ended("done", 200, EndReason.CALLER_HANGUP, null));
        ledger.accept(0, mine.playbackStarted("done", 300, 1, 0, 250, 290));

        // When the ledger is asked, Then the call stays ended
        assertThat(ledger.live(Set.of())).isEmpty();
    }

    @Test
    void shouldLeaveOutTheCallsOfAPartitionThatWasNotReadToItsMark() {
        // Given live calls on partitions 0 and 2, and partition 2 not read to its end
        OrphanSweep.Ledger ledger = new OrphanSweep.Ledger(ME);
        ledger.accept(0, startedBy(mine, "p0", 100));
        ledger.accept(2, startedBy(mine, "p2", 100));

        // When the ledger is asked with partition 2 excluded, Then only the call on partition 0 is reported:
        // a CallEnded for the other may lie in the unread part
        assertThat(ledger.live(Set.of(2))).extracting(OrphanSweep.Orphan::callId).containsExactly("p0");
    }
}
