package dev.omnicall.app;

import dev.omnicall.app.boot.OmniCallRuntime;
import dev.omnicall.app.config.Role;
import dev.omnicall.app.roles.BridgeRoleService;
import dev.omnicall.events.AudioChunk;
import dev.omnicall.events.CallEvent;
import dev.omnicall.events.CallStarted;
import dev.omnicall.events.ConversationTurn;
import dev.omnicall.events.TextDelta;
import dev.omnicall.events.TurnMetrics;
import dev.omnicall.events.TurnRequest;
import dev.omnicall.events.TurnTimings;
import dev.omnicall.kafka.Topics;
import dev.omnicall.model.LogMelFrontend;
import dev.omnicall.model.Prompt;
import dev.omnicall.model.omni2.Omni2Model;
import dev.omnicall.testbroker.TestBrokerCondition;
import dev.omnicall.testbroker.TestBrokerResource;
import dev.omnicall.worker.engine.omni2.Omni2TurnEngine;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.test.common.TestResourceScope;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import jakarta.inject.Inject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Issue 13's "done means" end to end: the app with the family chosen by configuration
 * ({@code omnicall.model.family=llama-omni2}; its boot writes the tiny LLaMA-Omni2 checkpoint into the empty
 * {@code omnicall.model.dir}, and the worker picks the family from that checkpoint's config.json) answers a real SIP
 * call placed by {@code bin/call} (baresip, G.711, digest auth) in which the caller says two sentences. Checked: the
 * caller recorded sound; the replies went out as 24 kHz chunks (the bridge brings them to the call's 8 kHz), each
 * reply's speech ended on the TTS LM's end token before the final cap (no tts-cap cut counted); every turn's
 * TurnMetrics record has every stamp; turn 2's TurnRequest carries turn 1's audio and reply text, and the worker's
 * prompt for turn 2 holds turn 1 as speech: its debug line (Omni2Session, {@code omni2 prompt of call ...}) lists turn
 * 1's speech piece, whose key is a hash of the samples ({@link Omni2Model#speechKey}), before turn 2's.
 *
 * <p>Run: {@code ./mvnw -o -B -pl quarkus-app -am test -Dtest=none -Dsurefire.failIfNoSpecifiedTests=false
 * -Dreliability.test=none} (needs baresip, sox, espeak-ng): the {@code omni2-call} surefire execution runs it in a JVM
 * of its own by its selector {@code -Domni2call.test}, whatever {@code -Dtest} names.
 */
@QuarkusTest
@WithTestResource(value = TestBrokerResource.class, scope = TestResourceScope.GLOBAL)
@ExtendWith(TestBrokerCondition.class)
@TestProfile(Omni2CallIT.TinyOmni2.class)
@Timeout(value = 240, unit = TimeUnit.SECONDS)
class Omni2CallIT {

    private static final Path CALL_SCRIPT = Path.of("..", "bin", "call");
    private static final String CALLER = "sip:tester@127.0.0.1";
    /**
     * The TTS LM's cap after the text ended, in units (40 ms each). The tiny TTS LM writes its end token (measured in
     * gpu-workers: the tiny 4-token reply's final write ends after 13-22 units), so a reply ends well inside it; the
     * cap only bounds a reply whose end never comes, at 2 s rather than the reference's 1024 units (41 s).
     */
    private static final int FINAL_CAP = 40;
    /** W of the tiny checkpoint's stream_params (3,10): units written after the third text token. */
    private static final int WRITE_UNITS = 10;
    /** 24 kHz samples per unit (40 ms). */
    private static final int SAMPLES_PER_UNIT = 960;
    private static final Pattern PROMPT_LINE = Pattern.compile(
            "omni2 prompt of call (\\S+): (\\d+) positions, speech \\[([^\\]]*)\\], (\\d+) reused");

    /** Where the app's boot writes the tiny LLaMA-Omni2 checkpoint for this test. */
    private static final Path MODEL_DIR = Path.of("target", "tiny-omni2-call").toAbsolutePath();

    /**
     * The family chosen by configuration: the app's boot writes the tiny LLaMA-Omni2 checkpoint into an empty
     * directory of this test's (one left by an earlier run is removed first); the worker's Omni2 debug lines on.
     */
    public static final class TinyOmni2 implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            removeEarlierRunsCheckpoint();
            return Map.of(
                    "omnicall.model.family", "llama-omni2",
                    "omnicall.model.dir", MODEL_DIR.toString(),
                    "omnicall.model.write-tiny-if-missing", "true",
                    "omnicall.worker.omni2.tts-final-cap", Integer.toString(FINAL_CAP),
                    "quarkus.log.category.\"dev.omnicall.worker.engine.omni2\".level", "DEBUG",
                    // the app restarts for this profile: a Streams state directory of its own
                    "omnicall.streams.state-dir", "target/omni2-call/streams-state-" + System.currentTimeMillis());
        }
    }

    /** A checkpoint in {@link #MODEL_DIR} older than this JVM goes, so that this run's boot writes its own. */
    static void removeEarlierRunsCheckpoint() {
        Instant jvmStart = Instant.ofEpochMilli(ManagementFactory.getRuntimeMXBean().getStartTime());
        try {
            if (Files.isDirectory(MODEL_DIR) && Files.getLastModifiedTime(MODEL_DIR).toInstant().isBefore(jvmStart)) {
                try (Stream<Path> paths = Files.walk(MODEL_DIR)) {
                    for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                        Files.delete(p);
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot remove the earlier run's checkpoint in " + MODEL_DIR, e);
        }
    }

    @Inject
    OmniCallRuntime runtime;
    @Inject
    MeterRegistry registry;

    @AfterAll
    static void clearCap() {
        System.clearProperty(Omni2TurnEngine.FINAL_CAP_KEY);
    }

    /** Keeps the worker's Omni2 prompt lines (JBoss LogManager is the JUL manager in these tests). */
    static final class PromptLines extends Handler {
        final List<String> lines = new CopyOnWriteArrayList<>();

        @Override
        public void publish(LogRecord r) {
            String m = r instanceof org.jboss.logmanager.ExtLogRecord e ? e.getFormattedMessage() : r.getMessage();
            if (m != null && m.contains("{}") && r.getParameters() != null && r.getParameters().length > 0) {
                m = org.slf4j.helpers.MessageFormatter.arrayFormat(m, r.getParameters()).getMessage();
            }
            if (m != null && m.contains("omni2 prompt of call")) {
                lines.add(m);
            }
        }

        @Override
        public void flush() {
        }

        @Override
        public void close() {
        }
    }

    /** One turn's prompt as the worker logged it: its speech pieces (first key, rows), in prompt order. */
    record Prompt(int positions, List<long[]> speech, int reused) {
    }

    @Test
    void shouldAnswerARealSipCallAndPutTurnOneIntoTurnTwosPromptAsSpeechWhenTheModelIsOmni2() throws Exception {
        // Given the app with every role, its worker on the tiny LLaMA-Omni2 checkpoint
        PipelineEvents.awaitDashboardConsumer(runtime);
        BridgeRoleService bridge = (BridgeRoleService) runtime.roles().get(Role.BRIDGE);
        await().atMost(Duration.ofSeconds(90)).until(() -> bridge.sipUri() != null);
        PromptLines prompts = new PromptLines();
        Logger sessionLog = Logger.getLogger("dev.omnicall.worker.engine.omni2.Omni2Session");
        sessionLog.addHandler(prompts);
        Path work = Files.createDirectories(Path.of("target", "omni2-call").toAbsolutePath());
        Path reply = work.resolve("reply.wav");
        Files.deleteIfExists(reply);
        Path speech = BaresipCaller.twoUtterances(work, "Good morning, I would like to check my order.",
                "It was placed last Tuesday.");
        try (TopicTail tail = TopicTail.open(runtime, Topics.CALL_EVENTS, Topics.TURN_REQUESTS, Topics.TURN_METRICS,
                Topics.RESPONSE_TEXT, Topics.RESPONSE_AUDIO)) {

            // When a caller says one sentence, waits 7 s, says a second one, listens and hangs up
            Path callLog = work.resolve("bin-call.log");
            Process call = new ProcessBuilder(CALL_SCRIPT.toString(), "--to", bridge.sipUri(),
                    "--user", "tester", "--password", "sip-secret-Xq81",
                    "--wav", speech.toString(), "--listen", "8", "--out", reply.toString())
                    .redirectErrorStream(true).redirectOutput(callLog.toFile()).start();
            assertThat(call.waitFor(120, TimeUnit.SECONDS)).as("bin/call finished").isTrue();
            String output = Files.readString(callLog, StandardCharsets.UTF_8);

            // Then the call was answered and the caller recorded the replies: sound, not silence
            assertThat(call.exitValue()).as("bin/call output:%n%s", output).isZero();
            assertThat(output).contains("call: answered");
            short[] heard = wavSamples(reply);
            int peak = 0;
            for (short s : heard) {
                peak = Math.max(peak, Math.abs(s));
            }
            System.out.printf("caller recorded %.2f s, peak %d%n", heard.length / 8000.0, peak);
            assertThat(heard.length / 8000.0).as("recording length in seconds").isGreaterThan(1.0);
            assertThat(peak).as("peak sample of the recording (G.711 silence decodes to < 10)").isGreaterThan(100);

            String callId = tail.values(Topics.CALL_EVENTS, e -> e.getPayload() instanceof CallStarted cs
                    && CALLER.equals(cs.getFrom())).stream().map(CallEvent::getCallId).findFirst()
                    .orElseThrow(() -> new AssertionError("no CallStarted from " + CALLER));

            // And both turns were answered: 24 kHz chunks (the bridge plays them at 8 kHz), a few letters of text
            await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(tail.values(Topics.RESPONSE_AUDIO,
                    c -> callId.equals(c.getCallId()) && c.getLast()).stream().map(AudioChunk::getTurnId).distinct())
                    .as("turns whose last chunk went out").contains(0, 1));
            List<AudioChunk> chunks = tail.values(Topics.RESPONSE_AUDIO, c -> callId.equals(c.getCallId()));
            assertThat(chunks).allSatisfy(c -> assertThat(c.getSampleRate()).isEqualTo(24000));
            String reply0 = replyText(tail, callId, 0);
            String reply1 = replyText(tail, callId, 1);
            System.out.printf("replies: '%s', '%s'; %d chunks, %.2f s of 24 kHz audio%n", reply0, reply1,
                    chunks.size(), chunks.stream().mapToInt(c -> c.getPcm().remaining() / 2).sum() / 24000.0);
            assertThat(reply0).matches("[BDKT][aeio][nrsx]");
            assertThat(runtime.steps()).as("boot steps").anySatisfy(step -> assertThat(step.name() + ": " + step.detail())
                    .isEqualTo("checkpoint: wrote the tiny LLaMA-Omni2 checkpoint to " + MODEL_DIR));

            // And each reply's speech ended on the TTS LM's end token: after the W units written at its third token,
            // the final write stopped short of the cap, and no reply was counted as cut there
            for (int turn = 0; turn <= 1; turn++) {
                int t = turn;
                int samples = chunks.stream().filter(c -> c.getTurnId() == t).mapToInt(c -> c.getPcm().remaining() / 2).sum();
                System.out.printf("turn %d: %.1f units of speech (%.2f s)%n", t, samples / (double) SAMPLES_PER_UNIT,
                        samples / 24000.0);
                assertThat(samples / (double) SAMPLES_PER_UNIT).as("units of speech in turn %d's reply", t)
                        .isGreaterThan(WRITE_UNITS).isLessThan(WRITE_UNITS + FINAL_CAP);
            }
            assertThat(registry.find("omnicall.worker.replies.cut").tag("reason", "tts-cap").counters())
                    .as("replies cut at the TTS cap").allSatisfy(c -> assertThat(c.count()).isZero());

            // And each turn's TurnMetrics record has every stamp
            await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
                for (int turn = 0; turn <= 1; turn++) {
                    int t = turn;
                    assertThat(tail.values(Topics.TURN_METRICS, m -> callId.equals(m.getCallId()) && m.getTurnId() == t))
                            .as("turn metrics of turn %d", t).anySatisfy(m -> {
                                TurnTimings s = m.getTimings();
                                assertThat(Arrays.asList(s.getSpeechEndUs(), s.getEndOfTurnUs(), s.getSegmentProducedUs(),
                                        s.getRequestProducedUs(), s.getRequestConsumedUs(), s.getInferenceStartUs(),
                                        s.getPrefillDoneUs(), s.getFirstUnitsUs(), s.getFirstAudioUs(),
                                        s.getFirstChunkProducedUs(), s.getChunkReceivedUs(), s.getFirstRtpUs()))
                                        .as("stamps of turn %d: %s", t, s).doesNotContainNull();
                                assertThat(m.getFirstAudioLatencyUs()).isNotNull().isPositive();
                            });
                }
            });

            // And turn 2's request carries turn 1: its audio (the same samples as turn 1's request) and reply text
            TurnRequest first = request(tail, callId, 0);
            TurnRequest second = request(tail, callId, 1);
            ConversationTurn past = second.getHistory().stream().filter(h -> h.getTurnId() == 0).findFirst()
                    .orElseThrow(() -> new AssertionError("turn 0 not in turn 1's history: " + second.getHistory()));
            assertThat(past.getUserAudio()).as("turn 0's audio in turn 1's history").isNotNull();
            assertThat(pcm(past.getUserAudio())).isEqualTo(pcm(first.getAudio()));
            assertThat(past.getAssistantText().strip()).isEqualTo(reply0.strip());
            long key0 = Omni2Model.speechKey(LogMelFrontend.pcmToFloat(pcm(first.getAudio())));
            long key1 = Omni2Model.speechKey(LogMelFrontend.pcmToFloat(pcm(second.getAudio())));

            // And the worker's prompt for turn 1 held its speech; for turn 2, turn 1's speech (same key, same rows)
            // before turn 2's own
            await().atMost(Duration.ofSeconds(10)).until(() -> prompts(prompts, callId).size() >= 2);
            List<Prompt> logged = prompts(prompts, callId);
            System.out.println("worker prompts: " + prompts.lines);
            Prompt p0 = logged.stream().filter(p -> p.speech().size() == 1 && p.speech().get(0)[0] == key0)
                    .findFirst().orElseThrow(() -> new AssertionError("no prompt with turn 0's speech alone (key "
                            + key0 + ") in " + prompts.lines));
            Prompt p1 = logged.stream().filter(p -> p.speech().size() == 2 && p.speech().get(1)[0] == key1)
                    .findFirst().orElseThrow(() -> new AssertionError("no prompt ending with turn 1's speech (key "
                            + key1 + ") in " + prompts.lines));
            assertThat(p1.speech().get(0)).as("turn 0's speech piece in turn 1's prompt").isEqualTo(p0.speech().get(0));
            assertThat(p1.positions()).isGreaterThan(p0.positions() + (int) p1.speech().get(1)[1]);
        } finally {
            sessionLog.removeHandler(prompts);
        }
    }

    /** The concatenated text deltas of one turn (the last attempt that sent any). */
    private static String replyText(TopicTail tail, String callId, int turn) {
        List<TextDelta> deltas = tail.values(Topics.RESPONSE_TEXT, d -> callId.equals(d.getCallId()) && d.getTurnId() == turn);
        int attempt = deltas.stream().mapToInt(TextDelta::getAttempt).max().orElse(0);
        return deltas.stream().filter(d -> d.getAttempt() == attempt).map(TextDelta::getText)
                .collect(Collectors.joining());
    }

    private static TurnRequest request(TopicTail tail, String callId, int turn) {
        return tail.values(Topics.TURN_REQUESTS, r -> callId.equals(r.getCallId()) && r.getTurnId() == turn).stream()
                .reduce((a, b) -> b).orElseThrow(() -> new AssertionError("no TurnRequest of turn " + turn));
    }

    /** The worker's logged prompts of this call. */
    private static List<Prompt> prompts(PromptLines lines, String callId) {
        return lines.lines.stream().map(PROMPT_LINE::matcher).filter(m -> m.find() && m.group(1).equals(callId))
                .map(Omni2CallIT::prompt).toList();
    }

    private static Prompt prompt(Matcher m) {
        List<long[]> speech = m.group(3).isBlank() ? List.of() : Arrays.stream(m.group(3).split(", "))
                .map(piece -> piece.split("x")).map(kr -> new long[] {Long.parseLong(kr[0]), Long.parseLong(kr[1])})
                .toList();
        return new Prompt(Integer.parseInt(m.group(2)), speech, Integer.parseInt(m.group(4)));
    }

    private static short[] pcm(ByteBuffer bytes) {
        ByteBuffer b = bytes.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        short[] out = new short[b.remaining() / 2];
        b.asShortBuffer().get(out);
        return out;
    }

    /** The samples of bin/call's recording (8 kHz mono 16-bit PCM WAV; the data after the 44-byte header). */
    private static short[] wavSamples(Path wav) throws IOException {
        byte[] b = Files.readAllBytes(wav);
        short[] out = new short[(b.length - 44) / 2];
        ByteBuffer.wrap(b, 44, out.length * 2).order(ByteOrder.LITTLE_ENDIAN).asShortBuffer().get(out);
        return out;
    }
}
