package dev.omnicall.topologies;

import dev.omnicall.events.BargeIn;
import dev.omnicall.events.CallerText;
import dev.omnicall.events.ConversationTurn;
import dev.omnicall.events.DeadLetter;
import dev.omnicall.events.PlaybackStarted;
import dev.omnicall.events.Transcript;
import dev.omnicall.events.TranscriptTurn;
import dev.omnicall.events.TurnRequest;
import dev.omnicall.kafka.Topics;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The caller's side: CallerText → the turn's userText in the conversation context (so the next TurnRequest's
 * history carries it) and in the transcript, in whatever order it comes relative to the reply's TextDeltas.
 */
class CallerTextTopologyTest {

    private static final int SAMPLES = 1600;

    @RegisterExtension
    final TopologyFixture topology = new TopologyFixture();
    private ConversationDriver d = topology.open(ConversationConfig.defaults());

    private TurnRequest turn(int turnId) {
        d.sendUtterance("call-1", turnId, 2, SAMPLES);
        return d.requests.readValue();
    }

    private Transcript lastTranscript() {
        List<Transcript> all = d.transcripts.readValuesToList();
        assertThat(all).as("a transcript was published").isNotEmpty();
        return all.get(all.size() - 1);
    }

    @Test
    void shouldCarryTheCallersTextInTheNextTurnRequestsHistory() {
        // Given turn 0 requested, the caller's words transcribed, and the reply streamed
        turn(0);
        d.says("call-1", 0, "What are your opening hours?");
        d.reply("call-1", 0, 0, "We open", " at nine.");

        // When the caller speaks again
        TurnRequest second = turn(1);

        // Then the history's turn 0 carries both sides
        ConversationTurn first = second.getHistory().get(0);
        assertThat(first.getUserText()).isEqualTo("What are your opening hours?");
        assertThat(first.getAssistantText()).isEqualTo("We open at nine.");
        assertThat(first.getUserAudio()).as("the audio is still kept for the latest turn").isNotNull();
        assertThat(d.metrics.get(TopologyMetrics.CALLER_TEXTS)).isEqualTo(1);
    }

    @Test
    void shouldTakeTheCallersTextThatArrivesAfterTheReplyCompleted() {
        // Given a reply that completed before the worker's transcription was out
        turn(0);
        d.reply("call-1", 0, 0, "We open at nine.");

        // When the caller's text arrives
        d.says("call-1", 0, "When do you open?");

        // Then the next request and the transcript both carry it
        assertThat(turn(1).getHistory().get(0).getUserText()).isEqualTo("When do you open?");
        TranscriptTurn t = lastTranscript().getTurns().get(0);
        assertThat(t.getUserText()).isEqualTo("When do you open?");
        assertThat(t.getAssistantText()).isEqualTo("We open at nine.");
    }

    @Test
    void shouldTakeTheCallersTextThatArrivesBetweenTheReplysDeltas() {
        turn(0);
        d.text.pipeInput("call-1", ConversationDriver.delta("call-1", 0, 0, 0, "We open", false));
        d.says("call-1", 0, "When do you open?");
        d.text.pipeInput("call-1", ConversationDriver.delta("call-1", 0, 0, 1, " at nine.", true));

        ConversationTurn first = turn(1).getHistory().get(0);
        assertThat(first.getUserText()).isEqualTo("When do you open?");
        assertThat(first.getAssistantText()).isEqualTo("We open at nine.");
    }

    @Test
    void shouldPublishTheCallersLineAsSoonAsItIsKnownThenTheReplyBeside() {
        // Given a request whose reply has not come yet
        d.events.pipeInput("call-1", ConversationDriver.started("call-1"));
        turn(0);
        d.transcripts.readValuesToList();

        // When the caller's text arrives first
        d.says("call-1", 0, "Is the bank open today?");

        // Then the transcript shows the caller's line with an empty, incomplete reply
        TranscriptTurn early = lastTranscript().getTurns().get(0);
        assertThat(early.getUserText()).isEqualTo("Is the bank open today?");
        assertThat(early.getAssistantText()).isEmpty();
        assertThat(early.getCompletedUs()).isZero();
        assertThat(early.getUserEndedUs()).as("speechEndUs of the utterance").isEqualTo(5_000L);

        // When the reply starts playing and completes
        d.events.pipeInput("call-1", ConversationDriver.event("call-1", new PlaybackStarted(0, 0, 8_000L, 9_000L, 0L)));
        d.reply("call-1", 0, 0, "Yes, until five.");

        // Then the same turn holds both sides, dated
        TranscriptTurn done = lastTranscript().getTurns().get(0);
        assertThat(done.getUserText()).isEqualTo("Is the bank open today?");
        assertThat(done.getAssistantText()).isEqualTo("Yes, until five.");
        assertThat(done.getCompletedUs()).isPositive();
        assertThat(done.getReplyStartedUs()).isEqualTo(9_000L);
        assertThat(done.getGeneratedChars()).isEqualTo(-1);
    }

    @Test
    void shouldKeepBothSidesOfEveryTurnInTurnOrder() {
        // Given two turns whose events arrive in different orders: turn 0 text first, turn 1 reply first
        d.events.pipeInput("call-1", ConversationDriver.started("call-1"));
        turn(0);
        d.says("call-1", 0, "Hello?");
        d.reply("call-1", 0, 0, "Hi, how can I help?");
        turn(1);
        d.reply("call-1", 1, 0, "Sure, one moment.");
        d.says("call-1", 1, "I need my balance.");
        d.events.pipeInput("call-1", ConversationDriver.ended("call-1"));

        // Then the final transcript lists the turns in order, each with the caller's side and the reply
        Transcript last = lastTranscript();
        assertThat(last.getEnded()).isTrue();
        assertThat(last.getTurns()).extracting(TranscriptTurn::getTurnId).containsExactly(0, 1);
        assertThat(last.getTurns()).extracting(TranscriptTurn::getUserText).containsExactly("Hello?", "I need my balance.");
        assertThat(last.getTurns()).extracting(TranscriptTurn::getAssistantText)
                .containsExactly("Hi, how can I help?", "Sure, one moment.");
        assertThat(last.getTurns()).allSatisfy(t -> assertThat(t.getUserEndedUs()).isEqualTo(5_000L));
    }

    @Test
    void shouldPlaceALateTurnBeforeALaterOneInTheTranscript() {
        // Given turn 1's caller text before turn 0's reply completes (the caller spoke twice quickly)
        turn(0);
        turn(1);
        d.says("call-1", 1, "And on Sunday?");
        d.reply("call-1", 0, 0, "Nine to five.");

        assertThat(lastTranscript().getTurns()).extracting(TranscriptTurn::getTurnId).containsExactly(0, 1);
    }

    @Test
    void shouldRedactCardNumbersTheCallerSpellsOutWhenRedactionIsOn() {
        d = topology.open(ConversationConfig.defaults().withRedactedTranscripts(true));
        turn(0);
        d.says("call-1", 0, "My card is four one one one, one one one one, one one one one, one two three four.");
        d.reply("call-1", 0, 0, "Thanks, the card ending 1234 is noted.");

        TranscriptTurn t = lastTranscript().getTurns().get(0);
        assertThat(t.getUserText()).isEqualTo("My card is X X X X, X X X X, X X X X, one two three four.");
        assertThat(t.getAssistantText()).isEqualTo("Thanks, the card ending 1234 is noted.");
        // The model still hears what was said: redaction is for the transcripts topic only
        assertThat(turn(1).getHistory().get(0).getUserText()).startsWith("My card is four one one one");
    }

    @Test
    void shouldIgnoreACallerTextOfACallWithoutContextOrOfAnUnknownTurn() {
        // Given no request was ever made for call-2, and call-1 knows turn 0 only
        d.callerText.pipeInput("call-2", ConversationDriver.callerText("call-2", 0, 0, "hello"));
        turn(0);
        d.says("call-1", 7, "which turn is this?");

        // Then both are ignored and counted, nothing is published and nothing dies
        assertThat(d.transcripts.isEmpty()).isTrue();
        assertThat(d.deadLetters.isEmpty()).isTrue();
        assertThat(d.metrics.get(TopologyMetrics.CALLER_TEXTS_WITHOUT_CONTEXT)).isEqualTo(1);
        assertThat(d.metrics.get(TopologyMetrics.CALLER_TEXTS_UNKNOWN_TURN)).isEqualTo(1);
        assertThat(d.driver.getKeyValueStore(ConversationTopology.CONTEXT_STORE).get("call-2")).isNull();
    }

    @Test
    void shouldIgnoreAStaleAttemptsTextAndADuplicate() {
        // Given the reply of turn 0 came from attempt 1 (attempt 0's worker died mid-reply)
        turn(0);
        d.text.pipeInput("call-1", ConversationDriver.delta("call-1", 0, 0, 0, "Par", false));
        d.reply("call-1", 0, 1, "Complete answer.");

        // When attempt 0's transcription, attempt 1's, and attempt 1's again arrive
        d.callerText.pipeInput("call-1", ConversationDriver.callerText("call-1", 0, 0, "from the dead worker"));
        d.callerText.pipeInput("call-1", ConversationDriver.callerText("call-1", 0, 1, "from the retry"));
        d.callerText.pipeInput("call-1", ConversationDriver.callerText("call-1", 0, 1, "from the retry"));

        // Then only attempt 1's counts
        assertThat(turn(1).getHistory().get(0).getUserText()).isEqualTo("from the retry");
        assertThat(d.metrics.get(TopologyMetrics.STALE_CALLER_TEXTS)).isEqualTo(1);
        assertThat(d.metrics.get(TopologyMetrics.DUPLICATE_CALLER_TEXTS)).isEqualTo(1);
        assertThat(d.metrics.get(TopologyMetrics.CALLER_TEXTS)).isEqualTo(1);
    }

    @Test
    void shouldLetANewerAttemptsTextReplaceAnOlderOne() {
        turn(0);
        d.callerText.pipeInput("call-1", ConversationDriver.callerText("call-1", 0, 0, "first try"));
        d.callerText.pipeInput("call-1", ConversationDriver.callerText("call-1", 0, 1, "second try"));
        d.reply("call-1", 0, 1, "ok");

        assertThat(turn(1).getHistory().get(0).getUserText()).isEqualTo("second try");
    }

    @Test
    void shouldShowAnEmptyTranscriptionInTheTranscriptButKeepTheHistoryUnknown() {
        turn(0);
        d.says("call-1", 0, "");
        d.reply("call-1", 0, 0, "Sorry, I did not catch that.");

        assertThat(lastTranscript().getTurns().get(0).getUserText()).isEmpty();
        assertThat(turn(1).getHistory().get(0).getUserText()).as("the worker then prompts with its placeholder").isNull();
    }

    @Test
    void shouldNotReviveAnEndedCallWithACallerTextLaterThanTheEndedGrace() {
        // (one within the grace completes the ended transcript: EndedCallGraceTest)
        turn(0);
        d.reply("call-1", 0, 0, "Bye.");
        d.events.pipeInput("call-1", ConversationDriver.ended("call-1"));
        d.passEndedGrace();
        d.transcripts.readValuesToList();

        d.says("call-1", 0, "bye");

        assertThat(d.transcripts.isEmpty()).isTrue();
        assertThat(d.keysOf(ConversationTopology.CONTEXT_STORE, "call-1")).isEmpty();
        assertThat(d.keysOf(ConversationTopology.TRANSCRIPT_STORE, "call-1")).isEmpty();
        assertThat(d.metrics.get(TopologyMetrics.RECORDS_AFTER_CALL_ENDED + "{" + Topics.CALLER_TEXT.name() + "}"))
                .isEqualTo(1);
    }

    @Test
    void shouldDeadLetterAPoisonCallerTextAndKeepGoing() {
        // Given a turn, then a CallerText that cannot be read and one with a negative turn id
        turn(0);
        byte[] garbage = {0, 0, 0, 0, 15, (byte) 0xde, (byte) 0xad};
        d.rawCallerText.pipeInput("call-1".getBytes(), garbage);
        d.callerText.pipeInput("call-1", CallerText.newBuilder(ConversationDriver.callerText("call-1", 0, 0, "x"))
                .setTurnId(-3).build());

        // When a good one follows
        d.says("call-1", 0, "still here");

        // Then two dead letters name the topic and stage, and the good text went through
        List<DeadLetter> letters = d.deadLetters.readValuesToList();
        assertThat(letters).extracting(DeadLetter::getSourceTopic).containsOnly(Topics.CALLER_TEXT.name());
        assertThat(letters).extracting(DeadLetter::getStage).containsExactly("deserialize", "process");
        assertThat(letters.get(1).getErrorMessage()).contains("turnId -3");
        assertThat(d.metrics.get(TopologyMetrics.DEAD_LETTERS + "{caller-text,deserialize}")).isEqualTo(1);
        assertThat(lastTranscript().getTurns().get(0).getUserText()).isEqualTo("still here");
    }

    @Test
    void shouldKeepTheCallersTextWhenTheCallerBargedIn() {
        // Given the caller interrupts the reply of turn 0, and the transcription comes after the barge-in
        turn(0);
        d.text.pipeInput("call-1", ConversationDriver.delta("call-1", 0, 0, 0, "Let me explain the fees", false));
        d.events.pipeInput("call-1", ConversationDriver.event("call-1", new BargeIn(0, 0, 900, 6, false)));
        d.says("call-1", 0, "Tell me about fees.");
        d.text.pipeInput("call-1", ConversationDriver.delta("call-1", 0, 0, 1, "", true));

        ConversationTurn t = turn(1).getHistory().get(0);
        assertThat(t.getUserText()).isEqualTo("Tell me about fees.");
        assertThat(t.getAssistantText()).isEqualTo("Let me");
        assertThat(t.getInterrupted()).isTrue();
    }
}
