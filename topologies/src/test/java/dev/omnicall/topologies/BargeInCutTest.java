package dev.omnicall.topologies;

import dev.omnicall.events.BargeIn;
import dev.omnicall.events.ConversationTurn;
import dev.omnicall.events.PlaybackStarted;
import dev.omnicall.events.TextDelta;
import dev.omnicall.events.Transcript;
import dev.omnicall.events.TranscriptTurn;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What the caller heard of a barged-in reply is what the context and the transcript keep: the first
 * {@code BargeIn.playedTextChars} characters, cut back to a whole word, whichever order the BargeIn and the
 * reply's TextDeltas arrive in.
 */
class BargeInCutTest {

    private static final String REPLY = "Our opening hours are nine to five on weekdays and ten to two on Saturdays.";
    /** The bridge played chunks voicing "Our opening hours ar" (the chunk boundary fell inside "are"). */
    private static final int HEARD = 20;
    private static final String KEPT = "Our opening hours";

    @RegisterExtension
    final TopologyFixture topology = new TopologyFixture();
    private ConversationDriver d = topology.open(ConversationConfig.defaults());

    private void request(int turnId) {
        d.sendUtterance("call-1", turnId, 1, 1600);
        d.requests.readValue();
    }

    private ConversationTurn historyOfTurn0() {
        d.sendUtterance("call-1", 9, 1, 1600);
        return d.requests.readValue().getHistory().get(0);
    }

    private TranscriptTurn transcriptOfTurn0() {
        List<Transcript> all = d.transcripts.readValuesToList();
        return all.get(all.size() - 1).getTurns().get(0);
    }

    private void bargeIn(int attempt, int playedTextChars) {
        d.events.pipeInput("call-1", ConversationDriver.event("call-1", new BargeIn(0, attempt, 1_200, playedTextChars, false)));
    }

    /** The reply in three deltas, the last one cancelled as the worker sends it after a barge-in. */
    private void deltas(int attempt, int from, int to) {
        String[] pieces = {"Our opening hours are nine", " to five on weekdays", " and ten to two on Saturdays."};
        for (int seq = from; seq < to; seq++) {
            boolean last = seq == pieces.length - 1;
            d.text.pipeInput("call-1", TextDelta.newBuilder(ConversationDriver.delta("call-1", 0, attempt, seq, pieces[seq], last))
                    .setCancelled(last).build());
        }
    }

    private void assertCut(ConversationTurn history, TranscriptTurn transcript) {
        assertThat(history.getAssistantText()).isEqualTo(KEPT);
        assertThat(history.getInterrupted()).isTrue();
        assertThat(transcript.getAssistantText()).isEqualTo(KEPT);
        assertThat(transcript.getInterrupted()).isTrue();
        assertThat(transcript.getGeneratedChars()).isEqualTo(REPLY.length());
    }

    @Test
    void shouldKeepOnlyTheHeardPartWhenTheBargeInArrivesWhileTheReplyIsStreaming() {
        // Given the first delta of turn 0's reply
        request(0);
        deltas(0, 0, 1);

        // When the caller barges in having heard 20 characters, and the remaining deltas still arrive
        bargeIn(0, HEARD);
        deltas(0, 1, 3);

        // Then the history and the transcript keep the heard words only
        assertCut(historyOfTurn0(), transcriptOfTurn0());
        assertThat(d.metrics.get(TopologyMetrics.REPLIES_CUT)).isEqualTo(1);
    }

    @Test
    void shouldCutTheCompletedReplyWhenTheBargeInArrivesAfterItsLastDelta() {
        // Given turn 0's reply complete (text generation runs ahead of playback)
        request(0);
        deltas(0, 0, 3);
        TranscriptTurn whole = transcriptOfTurn0();
        assertThat(whole.getAssistantText()).isEqualTo(REPLY);

        // When the barge-in comes afterwards
        bargeIn(0, HEARD);

        // Then the transcript is republished cut, and the history is cut too
        assertCut(historyOfTurn0(), transcriptOfTurn0());
    }

    @Test
    void shouldHoldTheCutWhenTheBargeInArrivesBeforeAnyDelta() {
        request(0);
        bargeIn(0, HEARD);
        deltas(0, 0, 3);

        assertCut(historyOfTurn0(), transcriptOfTurn0());
    }

    @Test
    void shouldApplyTheFirstBargeInOnlyWhenItIsRedelivered() {
        request(0);
        deltas(0, 0, 3);
        bargeIn(0, HEARD);
        d.transcripts.readValuesToList();

        bargeIn(0, HEARD);

        assertThat(d.transcripts.isEmpty()).as("nothing changed, nothing republished").isTrue();
        assertThat(d.metrics.get(TopologyMetrics.DUPLICATE_BARGE_INS)).isEqualTo(1);
        assertThat(historyOfTurn0().getAssistantText()).isEqualTo(KEPT);
    }

    @Test
    void shouldKeepTheWholeTextOfAnInterruptedTurnFromAnOlderBridge() {
        // Given a bridge that does not know how much was played (-1)
        request(0);
        deltas(0, 0, 1);
        bargeIn(0, -1);
        deltas(0, 1, 3);

        // Then today's behaviour: interrupted, the generated text whole, generatedChars unset
        ConversationTurn h = historyOfTurn0();
        TranscriptTurn t = transcriptOfTurn0();
        assertThat(h.getAssistantText()).isEqualTo(REPLY);
        assertThat(h.getInterrupted()).isTrue();
        assertThat(t.getAssistantText()).isEqualTo(REPLY);
        assertThat(t.getGeneratedChars()).isEqualTo(-1);
    }

    @Test
    void shouldKeepNothingWhenNoChunkWasPlayedToItsEnd() {
        request(0);
        bargeIn(0, 0);
        deltas(0, 0, 3);

        TranscriptTurn t = transcriptOfTurn0();
        assertThat(t.getAssistantText()).isEmpty();
        assertThat(t.getGeneratedChars()).isEqualTo(REPLY.length());
        assertThat(historyOfTurn0().getAssistantText()).isEmpty();
    }

    @Test
    void shouldNotCutTheReplyOfAnotherAttemptThanTheOneThatWasHeard() {
        // Given the context collected attempt 0, but the bridge reports the cut of attempt 1
        request(0);
        deltas(0, 0, 3);
        bargeIn(1, HEARD);

        // Then the turn is marked interrupted, its text left whole, and the mismatch counted
        ConversationTurn h = historyOfTurn0();
        assertThat(h.getInterrupted()).isTrue();
        assertThat(h.getAssistantText()).isEqualTo(REPLY);
        assertThat(d.metrics.get(TopologyMetrics.CUTS_OF_ANOTHER_ATTEMPT)).isEqualTo(1);
    }

    @Test
    void shouldIgnoreABargeInOfAnUnknownTurn() {
        request(0);
        d.events.pipeInput("call-1", ConversationDriver.event("call-1", new BargeIn(42, 0, 100, 5, false)));

        assertThat(d.metrics.get(TopologyMetrics.BARGE_INS_UNKNOWN_TURN)).isEqualTo(1);
        assertThat(d.deadLetters.isEmpty()).isTrue();
    }

    @Test
    void shouldRedactTheHeardPartNotTheGeneratedOne() {
        // Given redaction on and a reply reading back a card number, cut inside it
        d = topology.open(ConversationConfig.defaults().withRedactedTranscripts(true));
        request(0);
        String reply = "Your card 4111 1111 1111 1111 is on file.";
        d.reply("call-1", 0, 0, reply);
        bargeIn(0, reply.indexOf(" is"));

        TranscriptTurn t = transcriptOfTurn0();
        assertThat(t.getAssistantText()).isEqualTo("Your card XXXX XXXX XXXX 1111");
        assertThat(t.getGeneratedChars()).isEqualTo(reply.length());
    }

    @Test
    void shouldEndInTheSameHistoryAndTranscriptWhateverOrderTheCallersTextTheBargeInAndThePlaybackCome() {
        // Given the reply's two deltas in order, and the CallerText, the PlaybackStarted and the BargeIn placed
        // anywhere among them (before the reply, while it is collected, after it completed): every one of the 60
        // interleavings, each on a call of its own
        String[] pieces = {"Our opening hours are nine to five", " on weekdays and ten to two on Saturdays."};
        int interleavings = 0;
        for (int[] slots : floatingSlots(pieces.length + 3)) {
            String call = "order-" + interleavings++;
            d.sendUtterance(call, 0, 1, 1600);
            int seq = 0;
            for (int at = 0; at < pieces.length + 3; at++) {
                if (at == slots[0]) {
                    d.callerText.pipeInput(call, ConversationDriver.callerText(call, 0, 0, "When are you open?"));
                } else if (at == slots[1]) {
                    d.events.pipeInput(call, ConversationDriver.event(call, new PlaybackStarted(0, 0, 8_000L, 9_000L, 0L)));
                } else if (at == slots[2]) {
                    d.events.pipeInput(call, ConversationDriver.event(call, new BargeIn(0, 0, 1_200, HEARD, false)));
                } else {
                    boolean last = seq == pieces.length - 1;
                    d.text.pipeInput(call, TextDelta.newBuilder(ConversationDriver.delta(call, 0, 0, seq, pieces[seq], last))
                            .setCancelled(last).build());
                    seq++;
                }
            }
            d.sendUtterance(call, 1, 1, 1600);

            // Then the same end state: the caller's words and the heard words, in the history and the transcript
            ConversationTurn h = d.requests.readValuesToList().stream().filter(r -> r.getTurnId() == 1).findFirst()
                    .orElseThrow().getHistory().get(0);
            String order = call + " " + java.util.Arrays.toString(slots);
            assertThat(h.getUserText()).as(order).isEqualTo("When are you open?");
            assertThat(h.getAssistantText()).as(order).isEqualTo(KEPT);
            assertThat(h.getInterrupted()).as(order).isTrue();
            List<Transcript> all = d.transcripts.readValuesToList();
            TranscriptTurn t = all.get(all.size() - 1).getTurns().get(0);
            assertThat(t.getUserText()).as(order).isEqualTo("When are you open?");
            assertThat(t.getAssistantText()).as(order).isEqualTo(KEPT);
            assertThat(t.getGeneratedChars()).as(order).isEqualTo(REPLY.length());
            assertThat(t.getReplyStartedUs()).as(order).isEqualTo(9_000L);
            assertThat(t.getUserEndedUs()).as(order).isEqualTo(5_000L);
            assertThat(t.getCompletedUs()).as(order).isPositive();
        }
        assertThat(interleavings).isEqualTo(60);
    }

    /** Every way of giving three distinct events distinct positions among {@code n}. */
    private static List<int[]> floatingSlots(int n) {
        List<int[]> out = new ArrayList<>();
        for (int a = 0; a < n; a++) {
            for (int b = 0; b < n; b++) {
                for (int c = 0; c < n; c++) {
                    if (a != b && b != c && a != c) {
                        out.add(new int[] {a, b, c});
                    }
                }
            }
        }
        return out;
    }

    @Test
    void shouldGiveABargedInTurnItsCallerTextThatArrivesAfterTheNextTurnWasRequested() {
        // Given turn 0's reply streaming, a barge-in after 20 heard characters, and the caller's interrupting
        // sentence already assembled into turn 1 (the worker finishes a cancelled turn's transcription late)
        request(0);
        deltas(0, 0, 1);
        bargeIn(0, HEARD);
        deltas(0, 1, 3);
        d.sendUtterance("call-1", 1, 1, 1600);
        d.requests.readValue();

        // When turn 0's CallerText arrives only now
        d.callerText.pipeInput("call-1", ConversationDriver.callerText("call-1", 0, 0, "what time do you open"));

        // Then the transcript's turn 0 has both sides: the caller's words and the heard part of the reply
        TranscriptTurn t0 = transcriptOfTurn0();
        assertThat(t0.getUserText()).isEqualTo("what time do you open");
        assertThat(t0.getAssistantText()).isEqualTo(KEPT);
    }
}
