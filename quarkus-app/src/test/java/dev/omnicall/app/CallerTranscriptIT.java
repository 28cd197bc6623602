package dev.omnicall.app;

import dev.omnicall.app.boot.OmniCallRuntime;
import dev.omnicall.app.config.Role;
import dev.omnicall.app.roles.BridgeRoleService;
import dev.omnicall.events.AudioChunk;
import dev.omnicall.events.BargeIn;
import dev.omnicall.events.CallEnded;
import dev.omnicall.events.CallEvent;
import dev.omnicall.events.CallStarted;
import dev.omnicall.events.CallerText;
import dev.omnicall.events.ConversationTurn;
import dev.omnicall.events.PlaybackStarted;
import dev.omnicall.events.TextDelta;
import dev.omnicall.events.Transcript;
import dev.omnicall.events.TranscriptTurn;
import dev.omnicall.events.TurnRequest;
import dev.omnicall.kafka.Clock;
import dev.omnicall.kafka.Topics;
import dev.omnicall.testbroker.TestBrokerCondition;
import dev.omnicall.testbroker.TestBrokerResource;
import io.quarkus.test.common.TestResourceScope;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static io.restassured.RestAssured.given;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The caller's side of the conversation, end to end on the real parts: the app with every role on its embedded
 * broker, the tiny checkpoint (its Whisper decoder has random weights, so the words are random: the tests check
 * structure and that every topic carries the same words, never the words themselves), and a real SIP caller
 * (baresip, steered through its console so it speaks when the test decides, see {@link BaresipCaller}).
 *
 * <ul>
 *   <li>Two turns, the first reply heard to its end: one CallerText per turn on caller-text; the second
 *       TurnRequest's history carries the first turn's caller text; the transcripts table holds both sides of both
 *       turns in the order they were spoken, the caller's text equal to the CallerText's; the dashboard's
 *       transcript endpoint lists the same lines.</li>
 *   <li>A barge-in: the caller speaks over the first reply; the transcript keeps only what was played
 *       (assistantText is the first BargeIn.playedTextChars characters of the generated text, shorter than it, and
 *       generatedChars records the generated length) and the caller's words of that turn, whose transcription
 *       routinely ends after the hang-up (kept for the streams role's ended-call grace); the next turn's history carries
 *       the interrupted turn, with the caller's words when they came before that request.</li>
 * </ul>
 */
@QuarkusTest
@WithTestResource(value = TestBrokerResource.class, scope = TestResourceScope.GLOBAL)
@ExtendWith(TestBrokerCondition.class)
@Timeout(value = 480, unit = TimeUnit.SECONDS)
class CallerTranscriptIT {

    private static final String CALLER = "sip:tester@127.0.0.1";
    private static final String PASSWORD = "sip-secret-Xq81";
    private static final String FIRST = "Hello, what is the capital of France?";
    private static final String SECOND = "And how many people live there?";
    /** Generous: on a loaded 2-core box a tiny-model reply has taken over a minute to arrive. */
    private static final Duration REPLY_WAIT = Duration.ofSeconds(150);

    @Inject
    OmniCallRuntime runtime;

    @Test
    void shouldCarryTheCallersWordsIntoTheNextTurnAndWriteBothSidesInOrderWhenARealCallerSpeaksTwice() throws Exception {
        // Given the app with every role running and a caller on the line saying the first sentence
        PipelineEvents.awaitDashboardConsumer(runtime);
        try (TopicTail tail = openTail();
             BaresipCaller caller = BaresipCaller.dial(workDir("two-turns"), sipUri(), "tester", PASSWORD, FIRST)) {
            String callId = awaitCallId(tail, caller);

            // When the first reply has played to its end, the caller says the second sentence, hears that reply
            // to its end too, and hangs up
            PlaybackStarted first = awaitPlayback(tail, callId, 0, caller);
            awaitPlayedToTheEnd(tail, callId, first);
            // (the caller speaks again once turn 0's CallerText is out: the worker finishes a transcript after its
            // reply's last chunk, never in front of it, and the tiny random decoder runs to its 128-token cap, which on
            // a loaded CPU can take longer than a reply's last seconds; a trained decoder stops after ~15 tokens, well
            // within the reply. What the caller text does when it comes after the next request is the barge-in test's)
            callerText(tail, callId, 0, first.getAttempt());
            caller.say("sentence-1", SECOND);
            PlaybackStarted second = awaitPlayback(tail, callId, 1, caller);
            awaitPlayedToTheEnd(tail, callId, second);
            caller.hangUp();
            awaitCallEnded(tail, callId);

            // Then each turn has exactly one CallerText (of the attempt that was played)
            CallerText text0 = callerText(tail, callId, 0, first.getAttempt());
            CallerText text1 = callerText(tail, callId, 1, second.getAttempt());
            assertThat(List.of(text0, text1)).allSatisfy(t -> {
                assertThat(t.getText()).as("caller text of turn %d", t.getTurnId()).isNotNull();
                assertThat(t.getDecodeDoneUs()).isGreaterThanOrEqualTo(t.getDecodeStartUs());
                assertThat(t.getAudioMs()).isPositive();
            });

            // And the second turn's request carries the first turn's caller text in its history
            List<TurnRequest> requests = tail.values(Topics.TURN_REQUESTS, r -> callId.equals(r.getCallId()) && r.getTurnId() == 1);
            assertThat(requests).as("TurnRequests of turn 1").isNotEmpty();
            assertThat(requests).allSatisfy(r -> assertThat(historyTurn(r, 0).getUserText())
                    .as("history userText of turn 0 in the request of turn 1").isEqualTo(text0.getText()));

            // And the transcript holds both sides of both turns, in the order they were spoken
            Transcript transcript = awaitFinalTranscript(tail, callId, 2);
            List<TranscriptTurn> turns = transcript.getTurns();
            assertThat(turns).extracting(TranscriptTurn::getTurnId).containsExactly(0, 1);
            TranscriptTurn turn0 = turns.get(0);
            TranscriptTurn turn1 = turns.get(1);
            assertThat(turn0.getUserText()).isEqualTo(text0.getText());
            assertThat(turn1.getUserText()).isEqualTo(text1.getText());
            assertThat(turn0.getAssistantText()).as("turn 0 reply, heard whole").isEqualTo(generated(tail, callId, 0, first.getAttempt()));
            assertThat(turn1.getAssistantText()).as("turn 1 reply, heard whole").isEqualTo(generated(tail, callId, 1, second.getAttempt()));
            assertThat(turns).allSatisfy(t -> {
                assertThat(t.getInterrupted()).as("turn %d interrupted", t.getTurnId()).isFalse();
                assertThat(t.getGeneratedChars()).as("generatedChars of a turn heard whole").isEqualTo(-1);
            });
            assertThat(turn0.getReplyStartedUs()).as("reply 0 started at its first RTP packet").isEqualTo(first.getFirstRtpUs());
            assertThat(turn1.getReplyStartedUs()).as("reply 1 started at its first RTP packet").isEqualTo(second.getFirstRtpUs());
            assertThat(List.of(turn0.getUserEndedUs(), turn0.getReplyStartedUs(), turn1.getUserEndedUs(), turn1.getReplyStartedUs()))
                    .as("caller 0 ended < reply 0 started < caller 1 ended < reply 1 started").doesNotContain(0L).isSorted()
                    .doesNotHaveDuplicates();

            // And the dashboard's transcript of the call lists the same four lines in the same order
            await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
                Map<String, Object> view = given().get("/api/calls/" + callId + "/transcript").then().statusCode(200)
                        .extract().jsonPath().getMap("");
                @SuppressWarnings("unchecked")
                List<Map<String, Object>> lines = (List<Map<String, Object>>) view.get("lines");
                assertThat(lines).extracting(l -> l.get("speaker") + ":" + l.get("text")).containsExactly(
                        "caller:" + text0.getText(), "bot:" + turn0.getAssistantText(),
                        "caller:" + text1.getText(), "bot:" + turn1.getAssistantText());
            });
        }
    }

    @Test
    void shouldKeepOnlyThePlayedPartOfTheReplyInTheTranscriptWhenTheCallerBargesIn() throws Exception {
        // Given a caller on the line who said the first sentence and is hearing the reply
        PipelineEvents.awaitDashboardConsumer(runtime);
        try (TopicTail tail = openTail();
             BaresipCaller caller = BaresipCaller.dial(workDir("barge-in"), sipUri(), "tester", PASSWORD, FIRST)) {
            String callId = awaitCallId(tail, caller);
            PlaybackStarted first = awaitPlayback(tail, callId, 0, caller);

            // When the caller speaks over the reply just after its first chunk has played out: say() comes 0.4 s
            // before that chunk's end, the sentence's speech begins after 0.5 s of leading silence and the bridge
            // needs ~0.2 s of it to call it a barge-in. Once the second turn is requested, the caller hangs up.
            await("AudioChunk 0 of turn 0").atMost(REPLY_WAIT).until(() -> !chunks(tail, callId, first).isEmpty());
            AudioChunk chunk0 = chunks(tail, callId, first).get(0);
            assertThat(chunk0.getSeq()).isZero();
            assertThat(chunk0.getLast()).as("the reply of turn 0 is one chunk: nothing left to barge into after it").isFalse();
            sleepUntilMicros(first.getFirstRtpUs() + audioMicros(chunk0) - 400_000);
            caller.say("sentence-1", SECOND);
            await("a BargeIn of turn 0").atMost(REPLY_WAIT).until(() -> bargeIn(tail, callId).isPresent());
            BargeIn bargeIn = bargeIn(tail, callId).orElseThrow();
            // (the second turn is requested once the caller's sentence ends; its reply is not waited for)
            await("TurnRequest of turn 1").atMost(REPLY_WAIT).until(() -> !tail.values(Topics.TURN_REQUESTS,
                    r -> callId.equals(r.getCallId()) && r.getTurnId() == 1).isEmpty());
            caller.hangUp();
            awaitCallEnded(tail, callId);

            // Then the bridge reported how much of the first reply was heard. Chunk 0's sound goes out whole only
            // once chunk 1 follows it (the bridge's resampler holds a chunk's last samples until then): if chunk 1 was
            // there well before the barge-in, the caller heard chunk 0's text (its AudioChunk.textChars); if it came
            // after (a box too loaded to generate in real time), none of the text went out whole.
            assertThat(bargeIn.getAttempt()).isEqualTo(first.getAttempt());
            assertThat(bargeIn.getPlayedMs()).as("BargeIn.playedMs").isPositive();
            long bargeInUs = tail.values(Topics.CALL_EVENTS, e -> callId.equals(e.getCallId()) && e.getPayload() instanceof BargeIn)
                    .get(0).getOccurredUs();
            java.util.OptionalLong chunk1Us = tail.receivedUs(Topics.RESPONSE_AUDIO, c -> callId.equals(c.getCallId())
                    && c.getTurnId() == 0 && c.getAttempt() == first.getAttempt() && c.getSeq() == 1);
            String chunks = chunks(tail, callId, first).stream().map(c -> c.getSeq() + ":" + c.getTextChars() + " chars/"
                    + audioMicros(c) / 1000 + " ms").toList().toString();
            long chunk1LeadMs = chunk1Us.isPresent() ? (bargeInUs - chunk1Us.getAsLong()) / 1000 : Long.MIN_VALUE;
            System.out.printf("barge-in test: chunks %s; chunk 1 received %s ms before the BargeIn; playedTextChars %d%n",
                    chunks, chunk1Us.isPresent() ? chunk1LeadMs : "(never)", bargeIn.getPlayedTextChars());
            if (chunk1LeadMs > 150) {
                assertThat(bargeIn.getPlayedTextChars()).as("playedTextChars with chunk 1 playing (chunks %s)", chunks)
                        .isPositive().isGreaterThanOrEqualTo(chunk0.getTextChars())
                        .isIn(chunks(tail, callId, first).stream().map(AudioChunk::getTextChars).toList());
            } else if (chunk1LeadMs < 0) {
                assertThat(bargeIn.getPlayedTextChars()).as("playedTextChars with chunk 1 not yet there (chunks %s)", chunks)
                        .isZero();
            } else {
                assertThat(bargeIn.getPlayedTextChars()).as("playedTextChars (chunks %s)", chunks).isIn(0, chunk0.getTextChars());
            }
            String generated = awaitGenerated(tail, callId, 0, bargeIn.getAttempt());
            assertThat(bargeIn.getPlayedTextChars()).as("played text vs the %d characters generated", generated.length())
                    .isLessThan(generated.length());

            // And the transcript keeps exactly the played part of that reply, marks it interrupted and records
            // how much was generated; the caller's side of the turn is there, equal to its CallerText
            System.out.println("barge-in test: records of the call as read:" + tail.timeline(callId));
            CallerText text0 = callerText(tail, callId, 0, first.getAttempt());
            Transcript transcript = awaitFinalTranscript(tail, callId, 1);
            TranscriptTurn cut = transcript.getTurns().get(0);
            assertThat(cut.getTurnId()).isZero();
            assertThat(cut.getInterrupted()).isTrue();
            assertThat(cut.getAssistantText()).hasSize(bargeIn.getPlayedTextChars())
                    .isEqualTo(generated.substring(0, bargeIn.getPlayedTextChars()));
            assertThat(cut.getGeneratedChars()).isEqualTo(generated.length());
            assertThat(cut.getUserText()).isEqualTo(text0.getText());
            assertThat(cut.getUserEndedUs()).isPositive().isLessThan(cut.getReplyStartedUs());

            // And the next turn's history carries the interrupted turn, with the caller's words when they were
            // transcribed before the caller's next sentence ended. The worker transcribes a cut turn after its reply
            // stopped, yielding to every turn that has no first audio yet; the tiny random decoder runs to its
            // 128-token cap, seconds on a loaded CPU, so here its text often comes only after that request (and after
            // the hang-up: the transcript above still got it, within the streams role's ended-call grace).
            List<TurnRequest> requests = tail.values(Topics.TURN_REQUESTS, r -> callId.equals(r.getCallId()) && r.getTurnId() == 1);
            long text0Us = tail.receivedUs(Topics.CALLER_TEXT, c -> callId.equals(c.getCallId()) && c.getTurnId() == 0).orElseThrow();
            long request1Us = tail.receivedUs(Topics.TURN_REQUESTS, r -> callId.equals(r.getCallId()) && r.getTurnId() == 1).orElseThrow();
            long textLeadMs = (request1Us - text0Us) / 1000;
            System.out.printf("barge-in test: turn 0's CallerText read %d ms before turn 1's TurnRequest%n", textLeadMs);
            assertThat(requests).isNotEmpty().allSatisfy(r -> {
                ConversationTurn h = historyTurn(r, 0);
                assertThat(h.getInterrupted()).isTrue();
                assertThat(h.getAssistantText()).isEqualTo(cut.getAssistantText());
                if (textLeadMs > 1000) {
                    assertThat(h.getUserText()).as("turn 0's caller text, read %d ms before the request", textLeadMs)
                            .isEqualTo(text0.getText());
                } else if (textLeadMs < 0) {
                    assertThat(h.getUserText()).as("turn 0's caller text, read after the request").isNull();
                } else {
                    assertThat(h.getUserText()).as("turn 0's caller text, read just before the request").isIn(null, text0.getText());
                }
            });

            // And the dashboard shows the bot's line of turn 0 cut to what was heard
            await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
                List<Map<String, Object>> lines = given().get("/api/calls/" + callId + "/transcript").then().statusCode(200)
                        .extract().jsonPath().getList("lines");
                assertThat(lines.get(1)).containsEntry("speaker", "bot").containsEntry("text", cut.getAssistantText())
                        .containsEntry("interrupted", true).containsEntry("generatedChars", generated.length());
            });
        }
    }

    private TopicTail openTail() {
        return TopicTail.open(runtime, Topics.CALL_EVENTS, Topics.TURN_REQUESTS, Topics.CALLER_TEXT, Topics.RESPONSE_TEXT,
                Topics.RESPONSE_AUDIO, Topics.TRANSCRIPTS);
    }

    private String sipUri() {
        BridgeRoleService bridge = (BridgeRoleService) runtime.roles().get(Role.BRIDGE);
        return await().atMost(Duration.ofSeconds(60)).until(bridge::sipUri, Objects::nonNull);
    }

    private static Path workDir(String name) {
        return Path.of("target", "caller-transcript", name).toAbsolutePath();
    }

    /** The call this caller placed: the CallStarted from the test caller read since the tail opened. */
    private static String awaitCallId(TopicTail tail, BaresipCaller caller) {
        await("CallStarted from " + CALLER).atMost(Duration.ofSeconds(60)).failFast("baresip exited", () -> !caller.isAlive())
                .until(() -> callId(tail).isPresent());
        return callId(tail).orElseThrow();
    }

    private static Optional<String> callId(TopicTail tail) {
        return tail.values(Topics.CALL_EVENTS, e -> e.getPayload() instanceof CallStarted s && CALLER.equals(s.getFrom()))
                .stream().map(CallEvent::getCallId).findFirst();
    }

    private static Optional<BargeIn> bargeIn(TopicTail tail, String callId) {
        return tail.values(Topics.CALL_EVENTS, e -> callId.equals(e.getCallId()) && e.getPayload() instanceof BargeIn b
                && b.getTurnId() == 0).stream().map(e -> (BargeIn) e.getPayload()).findFirst();
    }

    private static PlaybackStarted awaitPlayback(TopicTail tail, String callId, int turnId, BaresipCaller caller) {
        await("PlaybackStarted of turn " + turnId).atMost(REPLY_WAIT).failFast("baresip exited", () -> !caller.isAlive())
                .until(() -> playback(tail, callId, turnId).isPresent());
        return playback(tail, callId, turnId).orElseThrow();
    }

    private static Optional<PlaybackStarted> playback(TopicTail tail, String callId, int turnId) {
        return tail.values(Topics.CALL_EVENTS, e -> callId.equals(e.getCallId()) && e.getPayload() instanceof PlaybackStarted p
                && p.getTurnId() == turnId).stream().map(e -> (PlaybackStarted) e.getPayload()).findFirst();
    }

    /**
     * Waits until the reply that began with {@code playback} has gone out to its end: its last AudioChunk is on
     * response-audio, and the bridge's 20 ms pacing has had time for all of it: the chunks' total length since the
     * first RTP packet, or, when chunks came slower than they play (a loaded box), the last chunk's length since it
     * arrived; plus 2 s of slack.
     */
    private static void awaitPlayedToTheEnd(TopicTail tail, String callId, PlaybackStarted playback) throws InterruptedException {
        await("the last AudioChunk of turn " + playback.getTurnId()).atMost(REPLY_WAIT)
                .until(() -> chunks(tail, callId, playback).stream().anyMatch(AudioChunk::getLast));
        long lastSeenUs = Clock.nowMicros();
        List<AudioChunk> chunks = chunks(tail, callId, playback);
        long audioUs = chunks.stream().mapToLong(CallerTranscriptIT::audioMicros).sum();
        long lastUs = audioMicros(chunks.get(chunks.size() - 1));
        sleepUntilMicros(Math.max(playback.getFirstRtpUs() + audioUs, lastSeenUs + lastUs) + 2_000_000);
    }

    private static long audioMicros(AudioChunk c) {
        return c.getPcm().remaining() / 2 * 1_000_000L / c.getSampleRate();
    }

    private static List<AudioChunk> chunks(TopicTail tail, String callId, PlaybackStarted p) {
        return tail.values(Topics.RESPONSE_AUDIO, c -> callId.equals(c.getCallId()) && c.getTurnId() == p.getTurnId()
                && c.getAttempt() == p.getAttempt()).stream().collect(Collectors.toMap(AudioChunk::getSeq, c -> c, (a, b) -> a))
                .values().stream().sorted(Comparator.comparingInt(AudioChunk::getSeq)).toList();
    }

    private static void awaitCallEnded(TopicTail tail, String callId) {
        await("CallEnded").atMost(Duration.ofSeconds(30)).until(() -> !tail.values(Topics.CALL_EVENTS,
                e -> callId.equals(e.getCallId()) && e.getPayload() instanceof CallEnded).isEmpty());
    }

    /** The one CallerText of (turn, attempt): the worker publishes exactly one per attempt it transcribed. */
    private static CallerText callerText(TopicTail tail, String callId, int turnId, int attempt) {
        await("CallerText of turn " + turnId + " attempt " + attempt).atMost(Duration.ofSeconds(60))
                .until(() -> !callerTexts(tail, callId, turnId, attempt).isEmpty());
        List<CallerText> mine = callerTexts(tail, callId, turnId, attempt);
        assertThat(mine).as("CallerText records of turn %d attempt %d (all of the call: %s)", turnId, attempt,
                tail.values(Topics.CALLER_TEXT, c -> callId.equals(c.getCallId())).stream()
                        .map(c -> c.getTurnId() + "/" + c.getAttempt()).toList()).hasSize(1);
        return mine.get(0);
    }

    private static List<CallerText> callerTexts(TopicTail tail, String callId, int turnId, int attempt) {
        return tail.values(Topics.CALLER_TEXT, c -> callId.equals(c.getCallId()) && c.getTurnId() == turnId
                && c.getAttempt() == attempt);
    }

    /** The reply text of (turn, attempt) as streamed on response-text: the deltas' texts by sequence number. */
    private static String generated(TopicTail tail, String callId, int turnId, int attempt) {
        return tail.values(Topics.RESPONSE_TEXT, d -> callId.equals(d.getCallId()) && d.getTurnId() == turnId
                        && d.getAttempt() == attempt).stream()
                .collect(Collectors.toMap(TextDelta::getSeq, TextDelta::getText, (a, b) -> a, java.util.TreeMap::new))
                .values().stream().collect(Collectors.joining());
    }

    /** As {@link #generated}, once the attempt's final (or cancelled) delta is in. */
    private static String awaitGenerated(TopicTail tail, String callId, int turnId, int attempt) {
        await("the final or cancelled TextDelta of turn " + turnId).atMost(REPLY_WAIT).until(() -> tail.values(Topics.RESPONSE_TEXT, d -> callId.equals(d.getCallId())
                && d.getTurnId() == turnId && d.getAttempt() == attempt && (d.getLast() || d.getCancelled())).size() > 0);
        return generated(tail, callId, turnId, attempt);
    }

    /** The call's latest transcript once it is ended and its first {@code turns} turns have the caller's text. */
    private static Transcript awaitFinalTranscript(TopicTail tail, String callId, int turns) {
        try {
            await().atMost(Duration.ofSeconds(120)).until(() -> latestTranscript(tail, callId).filter(t -> t.getEnded()
                    && t.getTurns().size() >= turns && t.getTurns().stream().limit(turns).allMatch(x -> x.getUserText() != null))
                    .isPresent());
        } catch (org.awaitility.core.ConditionTimeoutException e) {
            throw new AssertionError("no ended transcript with " + turns + " turns, each with the caller's text, in 120 s;"
                    + " transcripts of the call: " + tail.values(Topics.TRANSCRIPTS, t -> callId.equals(t.getCallId())).stream()
                    .map(t -> "ended=" + t.getEnded() + " turns=" + t.getTurns().stream().map(x -> x.getTurnId()
                            + (x.getUserText() == null ? "(no caller text)" : "(caller " + x.getUserText().length() + " chars)")
                            + (x.getInterrupted() ? "(interrupted)" : "")).toList()).toList()
                    + "; caller texts: " + tail.values(Topics.CALLER_TEXT, c -> callId.equals(c.getCallId())).stream()
                    .map(c -> c.getTurnId() + "/" + c.getAttempt()).toList() + "; records of the call as read:"
                    + tail.timeline(callId), e);
        }
        return latestTranscript(tail, callId).orElseThrow();
    }

    private static Optional<Transcript> latestTranscript(TopicTail tail, String callId) {
        List<Transcript> all = tail.values(Topics.TRANSCRIPTS, t -> callId.equals(t.getCallId()));
        return all.isEmpty() ? Optional.empty() : Optional.of(all.get(all.size() - 1));
    }

    private static ConversationTurn historyTurn(TurnRequest r, int turnId) {
        return r.getHistory().stream().filter(h -> h.getTurnId() == turnId).findFirst().orElseThrow(() ->
                new AssertionError("turn " + turnId + " not in the history of " + r.getCallId() + " turn " + r.getTurnId()
                        + " attempt " + r.getAttempt() + ": " + r.getHistory().stream().map(ConversationTurn::getTurnId).toList()));
    }

    private static void sleepUntilMicros(long epochMicros) throws InterruptedException {
        long ms = (epochMicros - Clock.nowMicros()) / 1000;
        if (ms > 0) {
            Thread.sleep(ms);
        }
    }
}
