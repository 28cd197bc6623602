package dev.omnicall.app.observe;

import dev.omnicall.events.BargeIn;
import dev.omnicall.events.CallEvent;
import dev.omnicall.events.CallerText;
import dev.omnicall.events.TextDelta;
import dev.omnicall.events.Transcript;
import dev.omnicall.events.TranscriptTurn;
import dev.omnicall.events.TurnTimings;
import dev.omnicall.events.WorkerLoad;
import dev.omnicall.topologies.TranscriptRedactor;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Both sides of a call in the dashboard's state, fed with the same views the observer builds from the topics:
 * the caller's line from caller-text (then the transcript's), the bot's reply cut to what the caller heard.
 */
class DashboardStateTest {

    private static final String CALL = "call-1";

    private final DashboardState state = new DashboardState(10);

    @Test
    void shouldListTheCallersLineBeforeTheBotsWhenTheCallerTextArrivesAfterTheReplyStarted() {
        // Given a reply that has started streaming
        state.apply(EventViews.text(delta(0, 0, 0, "Bonjour", false)));
        // When the caller's text of that turn arrives afterwards (the decoder runs beside the reply)
        state.apply(EventViews.callerText(callerText(0, 0, "what time is it"), UnaryOperator.identity()));
        state.apply(EventViews.text(delta(0, 0, 1, " le monde.", true)));

        // Then the transcript view lists the caller first, then the bot, whole
        assertThat(lines()).extracting(l -> l.get("speaker") + ":" + l.get("text"))
                .containsExactly("caller:what time is it", "bot:Bonjour le monde.");
        assertThat(turn(0).get("userText")).isEqualTo("what time is it");
        assertThat(turn(0).get("heardChars")).isNull();
        assertThat(turn(0).get("interrupted")).isEqualTo(false);
    }

    @Test
    void shouldNumberLiveEventsInTheOrderAppliedAndSayInTheSnapshotWhichItHolds() {
        // Given history read back at start-up (applied, not streamed: no number)
        Map<String, Object> history = EventViews.text(delta(0, 0, 0, "Bon", false));
        state.apply(history, 1_000L);
        assertThat(history).doesNotContainKey("eventSeq");
        assertThat(state.snapshot().get("eventSeq")).isEqualTo(0L);

        // When live events are applied, a dead letter and an event of another call among them
        Map<String, Object> first = EventViews.text(delta(0, 0, 1, "jour", false));
        Map<String, Object> second = EventViews.callerText(callerText(0, 0, "hello"), UnaryOperator.identity());
        long a = state.applyLive(first, 2_000L);
        long b = state.applyLive(second, 2_001L);
        Map<String, Object> dead = new java.util.LinkedHashMap<>(Map.of("type", "dead-letter", "sourceTopic", "audio-in"));
        long c = state.applyLive(dead, 2_002L);

        // Then each carries the next number, the snapshot says the latest, and it holds what they carried
        assertThat(List.of(a, b, c)).containsExactly(1L, 2L, 3L);
        assertThat(first.get("eventSeq")).isEqualTo(1L);
        assertThat(second.get("eventSeq")).isEqualTo(2L);
        assertThat(dead.get("eventSeq")).isEqualTo(3L);
        assertThat(state.eventSeq()).isEqualTo(3L);
        assertThat(state.snapshot().get("eventSeq")).isEqualTo(3L);
        assertThat(lines()).extracting(l -> l.get("speaker") + ":" + l.get("text"))
                .containsExactly("caller:hello", "bot:Bonjour");
    }

    @Test
    void shouldKeepTheRetrysCallerTextAndLetTheTranscriptWin() {
        // Given the caller text of attempt 1 (a retry), then a late one of attempt 0
        state.apply(EventViews.callerText(callerText(0, 1, "second try"), UnaryOperator.identity()));
        state.apply(EventViews.callerText(callerText(0, 0, "first try"), UnaryOperator.identity()));
        assertThat(turn(0).get("userText")).isEqualTo("second try");

        // When the transcript arrives with its own (redacted) caller text, then another caller-text
        state.apply(EventViews.transcript(transcript(turn(0, "card XXXXXXXXXXXX1111", "ok", false, -1))));
        state.apply(EventViews.callerText(callerText(0, 2, "card 4111111111111111"), UnaryOperator.identity()));

        // Then the transcript's text stays
        assertThat(turn(0).get("userText")).isEqualTo("card XXXXXXXXXXXX1111");
    }

    @Test
    void shouldRedactTheCallersTextWithTheTranscriptRedactorWhenRedactionIsOn() {
        Map<String, Object> view = EventViews.callerText(callerText(0, 0, "my card is 4111 1111 1111 1111 thanks"),
                TranscriptRedactor::redactText);
        assertThat(view.get("text")).isEqualTo("my card is XXXX XXXX XXXX 1111 thanks");
    }

    @Test
    void shouldCutTheReplyToThePlayedTextWhenTheCallerBargesIn() {
        // Given a reply of 17 characters, streamed whole
        state.apply(EventViews.callerText(callerText(0, 0, "hello"), UnaryOperator.identity()));
        state.apply(EventViews.text(delta(0, 0, 0, "Bonjour", false)));
        state.apply(EventViews.text(delta(0, 0, 1, " le monde.", true)));

        // When the caller barges in after the speech of the first 7 characters was played
        state.apply(EventViews.call(bargeIn(0, 0, 7)));

        // Then the turn is interrupted, 7 characters heard, and the transcript view keeps those 7
        assertThat(turn(0).get("interrupted")).isEqualTo(true);
        assertThat(turn(0).get("heardChars")).isEqualTo(7);
        assertThat(turn(0).get("text")).isEqualTo("Bonjour le monde.");
        assertThat(lines()).extracting(l -> l.get("speaker") + ":" + l.get("text"))
                .containsExactly("caller:hello", "bot:Bonjour");
        assertThat(lines().get(1)).containsEntry("interrupted", true).containsEntry("generatedChars", 17);
    }

    @Test
    void shouldShowACutTurnFromTheTranscriptAloneWhenNoDeltaWasSeen() {
        // Given only the transcript (a dashboard that started after the call): the heard part and the generated length
        state.apply(EventViews.transcript(transcript(turn(0, "hello", "Bonjour", true, 17), turn(1, "and then", "Au revoir.", false, -1))));

        // Then both turns show both sides, the first cut at 7 of 17 characters
        assertThat(turn(0).get("heardChars")).isEqualTo(7);
        assertThat(turn(0).get("generatedChars")).isEqualTo(17);
        assertThat(turn(0).get("userEndedUs")).isEqualTo(1_000L);
        assertThat(turn(0).get("replyStartedUs")).isEqualTo(2_000L);
        assertThat(turn(1).get("heardChars")).isNull();
        assertThat(lines()).extracting(l -> l.get("speaker") + ":" + l.get("text"))
                .containsExactly("caller:hello", "bot:Bonjour", "caller:and then", "bot:Au revoir.");
        assertThat(lines().get(1)).containsEntry("generatedChars", 17).containsEntry("atUs", 2_000L);
        assertThat(lines().get(3)).containsEntry("interrupted", false).containsEntry("generatedChars", null);
    }

    @Test
    void shouldReturnNoTranscriptForAnUnknownCall() {
        assertThat(state.transcript("nobody")).isEmpty();
    }

    @SuppressWarnings("unchecked")
    @Test
    void shouldShowEachWorkersLatestLoadWithTheMarginInMillisecondsAndNoneWhenNobodySpeaks() {
        // Given two workers: w1 with two turns speaking (least margin 35.4 ms), holding a newcomer; w2 with a rule off
        state.apply(EventViews.text(delta("w1", 0, load(1_000_000, 2, 1, 35_400L, true, 200_000L))), 1_000);
        state.apply(EventViews.text(delta("w2", 1, load(1_100_000, 1, 0, -12_600L, false, null))), 1_100);
        assertThat(worker("w1")).containsEntry("runningTurns", 2).containsEntry("waitingTurns", 1)
                .containsEntry("leastMarginMs", 35L).containsEntry("admissionHolding", true)
                .containsEntry("admissionMarginMs", 200L).containsEntry("heardMs", 1_000L)
                .containsEntry("stampedUs", 1_000_000L);
        assertThat(worker("w2")).containsEntry("leastMarginMs", -13L).containsEntry("admissionHolding", false)
                .containsEntry("admissionMarginMs", null);

        // When w1's last delta says nobody runs there any more, and an older delta of w1 (stamped 1 µs before, its
        // record time the same ms: another partition) is read after it
        state.apply(EventViews.text(delta("w1", 2, load(2_000_001, 0, 0, null, false, 200_000L))), 2_000);
        state.apply(EventViews.text(delta("w1", 3, load(2_000_000, 5, 5, 1L, true, 200_000L))), 2_000);

        // Then w1 shows no margin (absent, not 0), not holding: the newest record wins; workers listed by ID
        assertThat(worker("w1")).containsEntry("runningTurns", 0).containsEntry("leastMarginMs", null)
                .containsEntry("admissionHolding", false);
        assertThat(workers()).extracting(w -> w.get("workerId")).containsExactly("w1", "w2");
        // and a delta of a worker before TextDelta v3 (no load) adds no worker
        state.apply(EventViews.text(delta(4, 0, 0, "x", true)));
        assertThat(workers()).hasSize(2);
    }

    @Test
    void shouldKeepAtMostMaxWorkersDroppingTheLeastRecentlyHeard() {
        for (int i = 0; i <= DashboardState.MAX_WORKERS; i++) {
            state.apply(EventViews.text(delta("w" + i, i, load(1_000L * (10_000 - i), 1, 0, 5_000L, false, null))),
                    10_000 - i);
        }
        assertThat(workers()).hasSize(DashboardState.MAX_WORKERS);
        assertThat(workers()).extracting(w -> w.get("workerId")).doesNotContain("w" + DashboardState.MAX_WORKERS);
    }

    @SuppressWarnings("unchecked")
    private List<Map<String, Object>> workers() {
        return (List<Map<String, Object>>) state.snapshot().get("workers");
    }

    private Map<String, Object> worker(String workerId) {
        return workers().stream().filter(w -> workerId.equals(w.get("workerId"))).findFirst().orElseThrow();
    }

    private static WorkerLoad load(long stampedUs, int running, int waiting, Long leastMarginUs, boolean holding,
                                   Long ruleUs) {
        return WorkerLoad.newBuilder().setStampedUs(stampedUs).setRunningTurns(running).setWaitingTurns(waiting).setLeastMarginUs(leastMarginUs)
                .setAdmissionHolding(holding).setAdmissionMarginUs(ruleUs).build();
    }

    private static TextDelta delta(String workerId, int turnId, WorkerLoad load) {
        return TextDelta.newBuilder(delta(turnId, 0, 0, "t", false)).setWorkerId(workerId).setWorkerLoad(load).build();
    }

    private Map<String, Object> turn(int turnId) {
        List<Map<String, Object>> calls = (List<Map<String, Object>>) state.snapshot().get("calls");
        List<Map<String, Object>> turns = (List<Map<String, Object>>) calls.get(0).get("turns");
        return turns.stream().filter(t -> Integer.valueOf(turnId).equals(t.get("turnId"))).findFirst().orElseThrow();
    }

    @SuppressWarnings("unchecked")
    private List<Map<String, Object>> lines() {
        return (List<Map<String, Object>>) state.transcript(CALL).orElseThrow().get("lines");
    }

    private static TextDelta delta(int turnId, int attempt, int seq, String text, boolean last) {
        return TextDelta.newBuilder().setCallId(CALL).setTurnId(turnId).setAttempt(attempt).setSeq(seq).setText(text)
                .setLast(last).setWorkerId("w").setTimings(TurnTimings.newBuilder().build()).build();
    }

    static CallerText callerText(int turnId, int attempt, String text) {
        return CallerText.newBuilder().setCallId(CALL).setTurnId(turnId).setAttempt(attempt).setText(text)
                .setLanguage("en").setTokenCount(3).setAudioMs(1200).setDecodeStartUs(10_000).setDecodeDoneUs(52_000)
                .setDecodeCpuUs(30_000).setWorkerId("w").setTimings(TurnTimings.newBuilder().build()).build();
    }

    private static CallEvent bargeIn(int turnId, int attempt, int playedTextChars) {
        return CallEvent.newBuilder().setCallId(CALL).setBridgeId("b").setOccurredUs(5_000)
                .setPayload(BargeIn.newBuilder().setTurnId(turnId).setAttempt(attempt).setPlayedMs(800)
                        .setPlayedTextChars(playedTextChars).build()).build();
    }

    private static TranscriptTurn turn(int turnId, String user, String assistant, boolean interrupted, int generatedChars) {
        return TranscriptTurn.newBuilder().setTurnId(turnId).setUserText(user).setAssistantText(assistant)
                .setInterrupted(interrupted).setCompletedUs(3_000 + turnId).setUserEndedUs(1_000 + 10_000L * turnId)
                .setReplyStartedUs(2_000 + 10_000L * turnId).setGeneratedChars(generatedChars).build();
    }

    private static Transcript transcript(TranscriptTurn... turns) {
        return Transcript.newBuilder().setCallId(CALL).setTurns(List.of(turns)).setEnded(false).setUpdatedUs(4_000).build();
    }
}
