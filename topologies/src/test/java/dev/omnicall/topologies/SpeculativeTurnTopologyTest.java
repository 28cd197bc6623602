package dev.omnicall.topologies;

import dev.omnicall.events.AudioChunk;
import dev.omnicall.events.AudioSegment;
import dev.omnicall.events.BargeIn;
import dev.omnicall.events.ConversationTurn;
import dev.omnicall.events.PlaybackStarted;
import dev.omnicall.events.SpeculationOutcome;
import dev.omnicall.events.TextDelta;
import dev.omnicall.events.Transcript;
import dev.omnicall.events.TurnConfirmed;
import dev.omnicall.events.TurnMetrics;
import dev.omnicall.events.TurnRequest;
import dev.omnicall.events.TurnTimings;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.ByteBuffer;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Speculative turns in the streams role: a tentative end of an utterance is requested at once, marked speculative;
 * nothing of the turn reaches the context or the transcript until the bridge confirms it; a cancelled one leaves no
 * trace and the utterance that replaces it is requested whole.
 */
class SpeculativeTurnTopologyTest {

    private static final String CALL = "call-1";

    @RegisterExtension
    final TopologyFixture topology = new TopologyFixture();
    private final ConversationDriver d = topology.open(ConversationConfig.defaults());

    /** Segments 0..n-1 of an utterance; the last one a tentative (speculative) end; replacing {@code replaces}. */
    private void utterance(int id, int n, boolean speculative, int replaces) {
        for (int seq = 0; seq < n; seq++) {
            AudioSegment s = ConversationDriver.segment(CALL, id, seq, 1600, seq == n - 1);
            s.setSpeculative(speculative && seq == n - 1);
            s.setReplacesTurn(replaces);
            d.audio.pipeInput(CALL, s);
        }
    }

    private void confirmed(int turnId) {
        d.events.pipeInput(CALL, ConversationDriver.event(CALL, new TurnConfirmed(turnId, 5_500L, 5_900L)));
    }

    private void cancelled(int turnId) {
        BargeIn b = BargeIn.newBuilder().setTurnId(turnId).setAttempt(0).setPlayedMs(0).setPlayedTextChars(0)
                .setSpeculative(true).build();
        d.events.pipeInput(CALL, ConversationDriver.event(CALL, b));
    }

    private Transcript lastTranscript() {
        List<Transcript> all = d.transcripts.readValuesToList();
        return all.isEmpty() ? null : all.get(all.size() - 1);
    }

    @Test
    void shouldEmitASpeculativeTurnRequestAtTheTentativeEnd() {
        // When the bridge marks the end of utterance 0 as tentative
        utterance(0, 3, true, -1);
        // Then the request goes out at once, whole, marked speculative
        TurnRequest r = d.requests.readValue();
        assertThat(r.getTurnId()).isEqualTo(0);
        assertThat(r.getSpeculative()).isTrue();
        assertThat(r.getAudio().remaining()).isEqualTo(3 * 1600 * 2);
        assertThat(d.metrics.get(TopologyMetrics.SPECULATIVE_TURNS)).isEqualTo(1);
    }

    @Test
    void shouldHoldTheReplyOfAnOpenSpeculativeTurnAndReleaseItWhenConfirmed() {
        // Given a speculative turn whose reply and caller text came before the confirmation
        d.events.pipeInput(CALL, ConversationDriver.started(CALL));
        utterance(0, 2, true, -1);
        d.requests.readValue();
        d.transcripts.readValuesToList();
        d.callerText.pipeInput(CALL, ConversationDriver.callerText(CALL, 0, 1, "what time do you open"));
        d.reply(CALL, 0, 1, "We open", " at nine.");
        // Then nothing of it is in the transcript yet
        assertThat(d.transcripts.isEmpty()).isTrue();
        assertThat(d.metrics.get(TopologyMetrics.RECORDS_HELD_FOR_SPECULATION)).isEqualTo(3);

        // When the bridge confirms the end of the turn
        confirmed(0);

        // Then the turn is in the transcript with both sides, and in the next request's history
        Transcript t = lastTranscript();
        assertThat(t.getTurns()).hasSize(1);
        assertThat(t.getTurns().get(0).getUserText()).isEqualTo("what time do you open");
        assertThat(t.getTurns().get(0).getAssistantText()).isEqualTo("We open at nine.");
        utterance(1, 1, false, -1);
        List<ConversationTurn> history = d.requests.readValue().getHistory();
        assertThat(history).extracting(ConversationTurn::getAssistantText).containsExactly("We open at nine.");
        // and the records after the confirmation flow straight through
        assertThat(d.keysOf(ConversationTopology.SPECULATION_STORE, CALL)).hasSize(1); // remembered, holding nothing
    }

    @Test
    void shouldDropACancelledSpeculativeTurnAndRequestTheWholeUtteranceOnce() {
        // Given a speculative turn at a pause mid-question, with part of its reply and its caller text
        d.events.pipeInput(CALL, ConversationDriver.started(CALL));
        utterance(0, 2, true, -1);
        assertThat(d.requests.readValue().getSpeculative()).isTrue();
        d.reply(CALL, 0, 1, "Half an");
        d.callerText.pipeInput(CALL, ConversationDriver.callerText(CALL, 0, 1, "what time"));
        d.transcripts.readValuesToList();

        // When the caller goes on: the bridge cancels it and utterance 1 repeats utterance 0 and continues
        cancelled(0);
        d.text.pipeInput(CALL, TextDelta.newBuilder(ConversationDriver.delta(CALL, 0, 1, 1, " answer", true))
                .setCancelled(true).setTimings(TurnTimings.newBuilder().setInferenceStartUs(1_000L).build()).build());
        utterance(1, 4, false, 0);
        d.reply(CALL, 1, 1, "We open at nine.");
        d.callerText.pipeInput(CALL, ConversationDriver.callerText(CALL, 1, 1, "what time do you open"));

        // Then one more request, not speculative, with the whole utterance
        TurnRequest whole = d.requests.readValue();
        assertThat(whole.getTurnId()).isEqualTo(1);
        assertThat(whole.getSpeculative()).isFalse();
        assertThat(whole.getAudio().remaining()).isEqualTo(4 * 1600 * 2);
        assertThat(whole.getHistory()).isEmpty();
        assertThat(d.requests.isEmpty()).isTrue();
        // and nothing of turn 0 in the transcript or the next history
        Transcript t = lastTranscript();
        assertThat(t.getTurns()).extracting(tt -> tt.getTurnId()).containsExactly(1);
        assertThat(t.getTurns().get(0).getUserText()).isEqualTo("what time do you open");
        utterance(2, 1, false, -1);
        assertThat(d.requests.readValue().getHistory()).extracting(ConversationTurn::getTurnId).containsExactly(1);
        assertThat(d.metrics.get(TopologyMetrics.SPECULATIVE_TURNS_CANCELLED)).isEqualTo(1);
        // and the accounting record of the cancelled turn says what it cost
        TurnMetrics m = d.turnMetrics.readValuesToList().stream().filter(x -> x.getTurnId() == 0).findFirst().orElseThrow();
        assertThat(m.getSpeculation()).isEqualTo(SpeculationOutcome.CANCELLED);
        assertThat(m.getCancelledWorkUs()).isNotNull().isPositive();
        assertThat(m.getFirstAudioLatencyUs()).isNull();
    }

    @Test
    void shouldCancelFromTheReplacingUtteranceWhenItOvertakesTheBridgesCancel() {
        // Given a speculative turn with its reply complete (a fast model)
        d.events.pipeInput(CALL, ConversationDriver.started(CALL));
        utterance(0, 2, true, -1);
        d.requests.readValue();
        d.reply(CALL, 0, 1, "Half an answer.");
        // When the replacing utterance comes before the BargeIn on call-events (different topics: any order)
        utterance(1, 3, false, 0);
        cancelled(0);
        // Then its request has no trace of turn 0, and the transcript never showed it
        TurnRequest whole = d.requests.readValue();
        assertThat(whole.getHistory()).isEmpty();
        assertThat(d.transcripts.readValuesToList()).allSatisfy(t -> assertThat(t.getTurns()).isEmpty());
        // and the context keeps nothing of turn 0: the reply to turn 1 completes and is the only turn
        d.reply(CALL, 1, 1, "We open at nine.");
        utterance(2, 1, false, -1);
        assertThat(d.requests.readValue().getHistory()).extracting(ConversationTurn::getTurnId).containsExactly(1);
    }

    @Test
    void shouldSendNoRequestWhenTheCancelOvertakesTheTentativeEnd() {
        // Given the bridge's cancel of turn 0 processed before turn 0's last segment
        d.events.pipeInput(CALL, ConversationDriver.started(CALL));
        cancelled(0);
        // When turn 0's segments arrive with their tentative end
        utterance(0, 2, true, -1);
        // Then no request goes out for it (the worker would only cancel it) and the replacing utterance is requested
        assertThat(d.requests.isEmpty()).isTrue();
        assertThat(d.metrics.get(TopologyMetrics.CANCELLED_BEFORE_REQUEST)).isEqualTo(1);
        utterance(1, 3, false, 0);
        assertThat(d.requests.readValue().getTurnId()).isEqualTo(1);
    }

    @Test
    void shouldTakeAPlaybackStartedAsTheConfirmationWhenTheConfirmationIsLate() {
        // Given a speculative turn's reply, held
        d.events.pipeInput(CALL, ConversationDriver.started(CALL));
        utterance(0, 1, true, -1);
        d.requests.readValue();
        d.reply(CALL, 0, 1, "We open at nine.");
        d.transcripts.readValuesToList();
        // When its PlaybackStarted comes first (it can only play once confirmed)
        d.events.pipeInput(CALL, ConversationDriver.event(CALL, PlaybackStarted.newBuilder().setTurnId(0).setAttempt(1)
                .setChunkReceivedUs(5_700L).setFirstRtpUs(6_000L).setConfirmedUs(5_900L).build()));
        // Then the turn is released; the late TurnConfirmed changes nothing
        assertThat(lastTranscript().getTurns().get(0).getAssistantText()).isEqualTo("We open at nine.");
        confirmed(0);
        assertThat(d.transcripts.isEmpty()).isTrue();
    }

    @Test
    void shouldAccountAConfirmedSpeculativeTurnsWaitForConfirmation() {
        // Given a confirmed speculative turn whose first chunk reached the bridge before the confirmation
        d.events.pipeInput(CALL, ConversationDriver.started(CALL));
        utterance(0, 1, true, -1);
        d.requests.readValue();
        confirmed(0);
        TurnTimings timings = TurnTimings.newBuilder().setSpeechEndUs(5_000L).setEndOfTurnUs(5_200L)
                .setRequestProducedUs(5_250L).setInferenceStartUs(5_300L).setPrefillDoneUs(5_400L).setFirstUnitsUs(5_500L)
                .setFirstAudioUs(5_550L).build();
        d.chunks.pipeInput(CALL, AudioChunk.newBuilder().setCallId(CALL).setTurnId(0).setAttempt(1).setSeq(0)
                .setPcm(ByteBuffer.allocate(64)).setUnitCount(1).setLast(false).setTimings(timings).build());
        // When it plays: the chunk came at 5.6 ms, the end was confirmed at 5.9 ms, the first packet went at 6.0 ms
        d.events.pipeInput(CALL, ConversationDriver.event(CALL, PlaybackStarted.newBuilder().setTurnId(0).setAttempt(1)
                .setChunkReceivedUs(5_600L).setFirstRtpUs(6_000L).setConfirmedUs(5_900L).build()));
        // Then the metrics say CONFIRMED, the reply waited 300 µs, the full end-of-turn wait was 900 µs, and the
        // stages still add up to the first-audio latency
        TurnMetrics m = d.turnMetrics.readValue();
        assertThat(m.getSpeculation()).isEqualTo(SpeculationOutcome.CONFIRMED);
        assertThat(m.getConfirmWaitUs()).isEqualTo(300L);
        assertThat(m.getEndOfTurnConfirmUs()).isEqualTo(900L);
        assertThat(m.getVadWaitUs() + m.getBridgeToRequestUs() + m.getRequestToInferenceUs() + m.getEncoderPrefillUs()
                + m.getFirstUnitsUs() + m.getVocoderUs() + m.getChunkToBridgeUs() + m.getBridgeToRtpUs())
                .isEqualTo(m.getFirstAudioLatencyUs()).isEqualTo(1_000L);
    }

    @Test
    void shouldLeaveNoSpeculationStateBehindWhenTheCallEnds() {
        // Given an open speculative turn holding its reply
        d.events.pipeInput(CALL, ConversationDriver.started(CALL));
        utterance(0, 1, true, -1);
        d.reply(CALL, 0, 1, "We open");
        assertThat(d.keysOf(ConversationTopology.SPECULATION_STORE, CALL)).isNotEmpty();
        // When the caller hangs up
        d.events.pipeInput(CALL, ConversationDriver.ended(CALL));
        // Then the store holds nothing of the call
        assertThat(d.keysOf(ConversationTopology.SPECULATION_STORE, CALL)).isEmpty();
    }
}
