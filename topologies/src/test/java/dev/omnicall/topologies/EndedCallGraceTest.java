package dev.omnicall.topologies;

import dev.omnicall.events.BargeIn;
import dev.omnicall.events.PlaybackStarted;
import dev.omnicall.events.TextDelta;
import dev.omnicall.events.Transcript;
import dev.omnicall.events.TranscriptTurn;
import dev.omnicall.kafka.Topics;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.time.Duration;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A CallerText that trails its call's CallEnded. The worker transcribes a turn cut by a barge-in or the hang-up
 * after its reply stopped, and that transcription yields to other turns' first audio, so on a real call the caller's
 * text of the last turns routinely arrives after the end (CallerTranscriptIT's barge-in case: turn 0 cut, turn 1
 * requested, the caller hangs up, then both CallerTexts come). The transcript and the text of the context are kept
 * for {@code endedGrace} so that it still completes the transcript; later ones are refused and counted, and the
 * sweep releases what was kept.
 */
class EndedCallGraceTest {

    private static final String CALL = "call-1";
    /** The worker's consumer-group generation: the attempt of every record of a first-generation worker. */
    private static final int ATTEMPT = 1;
    private static final String FIRST_PIECE = "Our opening hours are nine";
    private static final int HEARD = 20;

    @RegisterExtension
    final TopologyFixture topology = new TopologyFixture();
    private ConversationDriver d = topology.open(ConversationConfig.defaults());

    /**
     * The order CallerTranscriptIT's barge-in case produced on the real broker: turn 0's reply starts playing, the
     * caller barges in after 20 heard characters, the worker's cancelled last delta follows, the caller's interrupting
     * sentence becomes turn 1 (requested), the caller hangs up while turn 1 is in prefill, and only then do the
     * worker's transcripts of turns 0 and 1 and turn 1's cancelled delta arrive.
     */
    private void bargeInThenHangUpBeforeTheTranscriptsCome() {
        d.events.pipeInput(CALL, ConversationDriver.started(CALL));
        d.sendUtterance(CALL, 0, 1, 1600);
        d.requests.readValue();
        d.text.pipeInput(CALL, ConversationDriver.delta(CALL, 0, ATTEMPT, 0, FIRST_PIECE, false));
        d.events.pipeInput(CALL, ConversationDriver.event(CALL, new PlaybackStarted(0, ATTEMPT, 3_000L, 4_000L, 0L)));
        d.events.pipeInput(CALL, ConversationDriver.event(CALL, new BargeIn(0, ATTEMPT, 1_200, HEARD, false)));
        d.text.pipeInput(CALL, cancelledLast(0, 1));
        d.sendUtterance(CALL, 1, 1, 1600);
        d.requests.readValue();
        d.events.pipeInput(CALL, ConversationDriver.ended(CALL));
    }

    private static TextDelta cancelledLast(int turnId, int seq) {
        return TextDelta.newBuilder(ConversationDriver.delta(CALL, turnId, ATTEMPT, seq, "", true)).setCancelled(true).build();
    }

    private Transcript lastTranscript() {
        List<Transcript> all = d.transcripts.readValuesToList();
        assertThat(all).as("transcripts published").isNotEmpty();
        return all.get(all.size() - 1);
    }

    private static String metric(String name, String topic) {
        return name + "{" + topic + "}";
    }

    @Test
    void shouldCompleteTheEndedTranscriptWhenTheBargedInTurnsCallerTextArrivesAfterCallEnded() {
        // Given a call whose turn 0 was barged in on and which ended before any CallerText came
        bargeInThenHangUpBeforeTheTranscriptsCome();
        Transcript atEnd = lastTranscript();
        assertThat(atEnd.getEnded()).isTrue();
        assertThat(atEnd.getTurns()).extracting(TranscriptTurn::getUserText).containsOnlyNulls();

        // When turn 0's and turn 1's CallerTexts (attempt 1) and turn 1's cancelled delta arrive after the end
        d.callerText.pipeInput(CALL, ConversationDriver.callerText(CALL, 0, ATTEMPT, "what time do you open"));
        d.callerText.pipeInput(CALL, ConversationDriver.callerText(CALL, 1, ATTEMPT, "and on sundays"));
        d.text.pipeInput(CALL, cancelledLast(1, 0));

        // Then the final transcript, still ended, has the caller's words of both turns, turn 0 keeps the heard part
        // of its reply, and turn 1 (never answered) has no reply text
        Transcript last = lastTranscript();
        assertThat(last.getEnded()).isTrue();
        assertThat(last.getTurns()).extracting(TranscriptTurn::getTurnId).containsExactly(0, 1);
        TranscriptTurn t0 = last.getTurns().get(0);
        assertThat(t0.getUserText()).isEqualTo("what time do you open");
        assertThat(t0.getAssistantText()).isEqualTo("Our opening hours");
        assertThat(t0.getInterrupted()).isTrue();
        assertThat(t0.getGeneratedChars()).isEqualTo(FIRST_PIECE.length());
        assertThat(t0.getReplyStartedUs()).isEqualTo(4_000L);
        TranscriptTurn t1 = last.getTurns().get(1);
        assertThat(t1.getUserText()).isEqualTo("and on sundays");
        assertThat(t1.getAssistantText()).isEmpty();

        // And the CallerTexts are counted as taken in the grace period; the reply delta, which nobody heard, is
        // refused as before
        assertThat(d.metrics.get(metric(TopologyMetrics.RECORDS_IN_END_GRACE, Topics.CALLER_TEXT.name()))).isEqualTo(2);
        assertThat(d.metrics.get(TopologyMetrics.CALLER_TEXTS)).isEqualTo(2);
        assertThat(d.metrics.get(metric(TopologyMetrics.RECORDS_AFTER_CALL_ENDED, Topics.RESPONSE_TEXT.name()))).isEqualTo(1);
    }

    @Test
    void shouldKeepOnlyTextForTheGracePeriodAndReleaseItAfter() {
        // Given a call that ended with its turns' caller texts still on their way
        bargeInThenHangUpBeforeTheTranscriptsCome();

        // Then during the grace the transcript and the context are kept, without caller audio or reply drafts, and
        // nothing else of the call is
        assertThat(d.keysOf(ConversationTopology.TRANSCRIPT_STORE, CALL)).containsExactly(CALL);
        var kept = d.driver.<String, dev.omnicall.state.ConversationState>getKeyValueStore(ConversationTopology.CONTEXT_STORE).get(CALL);
        assertThat(kept.getTurns()).allSatisfy(t -> assertThat(t.getUserAudio()).isNull());
        assertThat(kept.getPending()).allSatisfy(p -> assertThat(p.getUserAudio()).isNull());
        assertThat(kept.getDrafts()).isEmpty();
        assertThat(d.keysOf(ConversationTopology.SEGMENT_STORE, CALL)).isEmpty();
        assertThat(d.keysOf(ConversationTopology.PROGRESS_STORE, CALL)).isEmpty();
        assertThat(d.keysOf(ConversationTopology.METRICS_STORE, CALL)).isEmpty();

        // When the grace is over and the sweep has run
        d.advanceWallClock(ConversationConfig.DEFAULT_ENDED_GRACE.plus(CallActivity.touchEvery(ConversationConfig.defaults())));

        // Then both are released and counted, and a CallerText arriving now is refused, counted, and changes nothing
        assertThat(d.keysOf(ConversationTopology.TRANSCRIPT_STORE, CALL)).isEmpty();
        assertThat(d.keysOf(ConversationTopology.CONTEXT_STORE, CALL)).isEmpty();
        assertThat(d.metrics.get(TopologyMetrics.ENDED_CALLS_RELEASED)).isEqualTo(1);
        d.transcripts.readValuesToList();
        d.callerText.pipeInput(CALL, ConversationDriver.callerText(CALL, 0, ATTEMPT, "what time do you open"));
        assertThat(d.transcripts.isEmpty()).isTrue();
        assertThat(d.keysOf(ConversationTopology.TRANSCRIPT_STORE, CALL)).isEmpty();
        assertThat(d.keysOf(ConversationTopology.CONTEXT_STORE, CALL)).isEmpty();
        assertThat(d.metrics.get(metric(TopologyMetrics.RECORDS_AFTER_CALL_ENDED, Topics.CALLER_TEXT.name()))).isEqualTo(1);
        assertThat(d.metrics.get(TopologyMetrics.RECORDS_IN_END_GRACE)).isZero();

        // And a later sweep releases nothing again
        d.advanceWallClock(Duration.ofMinutes(5));
        assertThat(d.metrics.get(TopologyMetrics.ENDED_CALLS_RELEASED)).isEqualTo(1);
    }

    @Test
    void shouldRefuseALateCallerTextAtOnceWhenTheGraceIsOff() {
        // Given the grace switched off and the same call
        d.close();
        d = topology.open(ConversationConfig.defaults().withEndedGrace(Duration.ZERO));
        bargeInThenHangUpBeforeTheTranscriptsCome();
        assertThat(d.keysOf(ConversationTopology.TRANSCRIPT_STORE, CALL)).isEmpty();
        assertThat(d.keysOf(ConversationTopology.CONTEXT_STORE, CALL)).isEmpty();

        // When turn 0's CallerText arrives after the end
        d.callerText.pipeInput(CALL, ConversationDriver.callerText(CALL, 0, ATTEMPT, "what time do you open"));

        // Then it is refused and counted (the behaviour before the grace period existed)
        assertThat(lastTranscript().getTurns()).extracting(TranscriptTurn::getUserText).containsOnlyNulls();
        assertThat(d.metrics.get(metric(TopologyMetrics.RECORDS_AFTER_CALL_ENDED, Topics.CALLER_TEXT.name()))).isEqualTo(1);
    }

    @Test
    void shouldNotCarryAnEndedCallsKeptTranscriptIntoAReusedCallId() {
        // Given a call that ended, its transcript kept for the grace period
        bargeInThenHangUpBeforeTheTranscriptsCome();

        // When the call ID starts again within the grace, and the caller speaks
        d.events.pipeInput(CALL, ConversationDriver.started(CALL));
        d.sendUtterance(CALL, 0, 1, 1600);

        // Then it starts afresh: an open transcript with no turns, and a request with no history
        Transcript fresh = lastTranscript();
        assertThat(fresh.getEnded()).isFalse();
        assertThat(fresh.getTurns()).isEmpty();
        assertThat(d.requests.readValue().getHistory()).isEmpty();
    }

    @Test
    void shouldRejectAGraceThatOutlivesTheMemoryOfEnds() {
        assertThatThrownBy(() -> ConversationConfig.defaults().withEndedGrace(Duration.ofHours(2)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("endedGrace");
        assertThatThrownBy(() -> ConversationConfig.defaults().withEndedGrace(Duration.ofSeconds(-1)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("endedGrace");
    }
}
