package dev.omnicall.app;

import com.microsoft.playwright.APIResponse;
import com.microsoft.playwright.Browser;
import com.microsoft.playwright.BrowserType;
import com.microsoft.playwright.Locator;
import com.microsoft.playwright.Page;
import com.microsoft.playwright.Playwright;
import com.microsoft.playwright.Route;
import dev.omnicall.app.boot.OmniCallRuntime;
import dev.omnicall.events.TextDelta;
import dev.omnicall.events.TurnTimings;
import dev.omnicall.events.WorkerLoad;
import dev.omnicall.kafka.Topics;
import dev.omnicall.testbroker.TestBrokerCondition;
import dev.omnicall.testbroker.TestBrokerResource;
import io.quarkus.test.common.TestResourceScope;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.net.URL;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

import static com.microsoft.playwright.assertions.PlaywrightAssertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The dashboard in a real headless browser (Debian's chromium, driven by Playwright): text streamed on
 * response-text appears in the call's turn and grows as more deltas arrive; the latency split of the turn
 * shows once its turn-metrics record lands; the caller's words from caller-text show as the turn's first line,
 * before the bot's reply, and a reply the caller barged into shows what was heard and what was cut; a call
 * that ended before the page was opened is listed (both sides) from the page's first snapshot; each worker's load
 * (running turns, least playback margin, admission hold) shows as its deltas carry it; events the page's stream lost
 * are shown once the page sees the gap in their numbers (or, for a lost last event, the counters tick's number).
 */
@QuarkusTest
@WithTestResource(value = TestBrokerResource.class, scope = TestResourceScope.GLOBAL)
@ExtendWith(TestBrokerCondition.class)
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class DashboardBrowserIT {

    private static final Path CHROMIUM = Path.of("/usr/bin/chromium");

    /**
     * Each assertion on the page waits up to 15 s (Playwright's default is 5 s): an event goes through a fresh test
     * producer, the embedded broker, the observer's consumer and the SSE stream, and a clean-clone CI run on a loaded
     * 2-core box once missed the 5 s ("Bonjour" not shown while the server already counted the turn).
     */
    @org.junit.jupiter.api.BeforeAll
    static void patientAssertions() {
        com.microsoft.playwright.assertions.PlaywrightAssertions.setDefaultAssertionTimeout(15_000);
    }

    @Inject
    OmniCallRuntime runtime;

    @TestHTTPResource("/")
    URL base;

    private static Playwright playwright() {
        return Playwright.create(new Playwright.CreateOptions().setEnv(Map.of("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")));
    }

    private static Browser chromium(Playwright playwright) {
        return playwright.chromium().launch(new BrowserType.LaunchOptions().setExecutablePath(CHROMIUM).setHeadless(true)
                .setArgs(List.of("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking")));
    }

    @Test
    void shouldListACallThatEndedBeforeThePageWasOpened() {
        try (PipelineEvents events = new PipelineEvents(runtime);
             Playwright playwright = playwright();
             Browser browser = chromium(playwright)) {
            // Given a call that was answered, replied to, measured and hung up while no page was open
            events.callStarted("call-before-page");
            events.callerText("call-before-page", 1, 0, "What is the capital of France?");
            events.text("call-before-page", 1, 0, 0, "Paris is the capital.", true);
            events.turnMetrics("call-before-page", 1, 640_000, 510_000, 40_000);
            events.callEnded("call-before-page");
            await().atMost(Duration.ofSeconds(30)).until(() -> DashboardHistoryIT.find(runtime.dashboard(), "call-before-page")
                    .filter(c -> "ended".equals(c.get("state"))
                            && DashboardHistoryIT.turn(c).get("firstAudioMs") != null).isPresent());

            // When someone opens the dashboard afterwards
            Page page = browser.newPage();
            page.navigate(base.toString());

            // Then the call is listed, ended, with its reply and latency split, from the page's first snapshot
            Locator call = page.locator("[data-call='call-before-page']");
            assertThat(call.locator("[data-role='call-state']")).hasText("ended");
            assertThat(call.locator("[data-turn='1'] [data-role='user-text']")).hasText("What is the capital of France?");
            assertThat(call.locator("[data-turn='1'] [data-role='assistant-text']")).hasText("Paris is the capital.");
            assertThat(call.locator("[data-turn='1'] [data-role='first-audio-ms']")).hasText("640 ms");
            assertThat(page.locator("#no-calls")).isHidden();
        }
    }

    @Test
    void shouldShowTheCallersLineBeforeTheReplyAndCutTheReplyWhenTheCallerBargesIn() {
        try (PipelineEvents events = new PipelineEvents(runtime);
             Playwright playwright = playwright();
             Browser browser = chromium(playwright)) {
            // Given the dashboard open, and a call whose reply has begun to stream
            Page page = browser.newPage();
            page.navigate(base.toString());
            assertThat(page.locator("#stream-state")).hasText("stream: live");
            events.callStarted("call-browser-2");
            events.text("call-browser-2", 0, 0, 0, "Bonjour", false);
            Locator turn = page.locator("[data-call='call-browser-2'] [data-turn='0']");
            assertThat(turn.locator("[data-role='assistant-text']")).hasText("Bonjour");
            assertThat(turn.locator("[data-role='caller-line']")).hasCount(0);

            // When the caller's words of that turn arrive on caller-text (the decoder runs beside the reply)
            events.callerText("call-browser-2", 0, 0, "What time is it?");

            // Then the caller's line shows, above the bot's
            assertThat(turn.locator("[data-role='user-text']")).hasText("What time is it?");
            assertThat(turn.locator("[data-role='caller-line']")).containsText("Caller:");
            assertThat(turn.locator(":scope > .line").nth(0)).hasAttribute("data-role", "caller-line");
            assertThat(turn.locator(":scope > .line").nth(1)).hasAttribute("data-role", "bot-line");

            // When the reply finishes streaming and the caller barges in after 7 of its 17 characters were played
            events.text("call-browser-2", 0, 0, 1, " le monde.", true);
            assertThat(turn.locator("[data-role='assistant-text']")).hasText("Bonjour le monde.");
            events.bargeIn("call-browser-2", 0, 0, 7);

            // Then the heard part and the cut part show apart
            assertThat(turn.locator("[data-role='heard-text']")).hasText("Bonjour");
            assertThat(turn.locator("[data-role='unheard-text']")).hasText(" le monde.");
            assertThat(turn.locator("[data-role='cut-badge']")).hasText("cut: heard 7 of 17 chars");

            // When the transcript keeps the heard part, and a page opened now loads it from the snapshot
            events.interruptedTranscript("call-browser-2", 0, "What time is it?", "Bonjour", 17);
            await().atMost(Duration.ofSeconds(30)).until(() -> DashboardHistoryIT.find(runtime.dashboard(), "call-browser-2")
                    .map(c -> DashboardHistoryIT.turn(c, 0).get("generatedChars")).filter(g -> g.equals(17)).isPresent());
            Page later = browser.newPage();
            later.navigate(base.toString());
            Locator laterTurn = later.locator("[data-call='call-browser-2'] [data-turn='0']");

            // Then it shows both sides and the cut the same way
            assertThat(laterTurn.locator("[data-role='user-text']")).hasText("What time is it?");
            assertThat(laterTurn.locator("[data-role='heard-text']")).hasText("Bonjour");
            assertThat(laterTurn.locator("[data-role='unheard-text']")).hasText(" le monde.");
            // And the call's transcript endpoint lists caller then bot, the bot's line cut to what was heard
            io.restassured.RestAssured.given().get("/api/calls/call-browser-2/transcript").then().statusCode(200)
                    .body("lines.speaker", org.hamcrest.Matchers.contains("caller", "bot"))
                    .body("lines.text", org.hamcrest.Matchers.contains("What time is it?", "Bonjour"))
                    .body("lines[1].interrupted", org.hamcrest.Matchers.equalTo(true))
                    .body("lines[1].generatedChars", org.hamcrest.Matchers.equalTo(17));
            io.restassured.RestAssured.given().get("/api/calls/no-such-call/transcript").then().statusCode(404);
        }
    }

    @Test
    void shouldLoadTheSnapshotAgainWhenItsStreamLostEvents() {
        try (PipelineEvents events = new PipelineEvents(runtime);
             Playwright playwright = playwright();
             Browser browser = chromium(playwright)) {
            // Given the dashboard open
            Page page = browser.newPage();
            page.navigate(base.toString());
            assertThat(page.locator("#stream-state")).hasText("stream: live");

            // When a call's start and the first piece of its reply reach the server's view but never the page's
            // stream, and the next piece comes through the pipeline as usual
            events.callStartedLostOnTheStream("call-lost-1");
            events.textLostOnTheStream("call-lost-1", 0, 0, 0, "Good ", false);
            events.text("call-lost-1", 0, 0, 1, "morning.", true);

            // Then the page finds the gap in the events' numbers, loads the snapshot again and shows the call whole
            Locator call = page.locator("[data-call='call-lost-1']");
            assertThat(call.locator("[data-role='call-state']")).hasText("live");
            assertThat(call.locator("[data-turn='0'] [data-role='assistant-text']")).hasText("Good morning.");
            assertThat(page.locator("body")).hasAttribute("data-resyncs", Pattern.compile("[1-9][0-9]*"));

            // When the last event the server sees is lost on the stream, with no later event to show the gap
            events.callStartedLostOnTheStream("call-lost-2");

            // Then the counters tick (every 2 s, with the server's latest number) shows the page behind, and it loads
            // the snapshot again
            assertThat(page.locator("[data-call='call-lost-2'] [data-role='call-state']")).hasText("live");
        }
    }

    @Test
    void shouldKeepALiveDeltaWhenAnOlderSnapshotAnswersAfterIt() {
        try (PipelineEvents events = new PipelineEvents(runtime);
             Playwright playwright = playwright();
             Browser browser = chromium(playwright)) {
            // Given a page whose second snapshot request (the one the stream's connect makes) is answered late,
            // with the state as it was when asked: the overlap a slow server or a reconnect produces
            Page page = browser.newPage();
            List<Runnable> late = new ArrayList<>();
            int[] requests = {0};
            page.route("**/api/snapshot", route -> {
                if (++requests[0] != 2) {
                    route.resume();
                    return;
                }
                APIResponse asked = route.fetch();
                late.add(() -> route.fulfill(new Route.FulfillOptions().setResponse(asked)));
            });
            page.navigate(base.toString());
            assertThat(page.locator("#stream-state")).hasText("stream: live");
            page.waitForCondition(() -> !late.isEmpty());

            // When the first piece of a reply streams before that answer comes
            events.callStarted("call-browser-3");
            events.text("call-browser-3", 0, 0, 0, "Bonjour", false);
            await().atMost(Duration.ofSeconds(30)).until(() -> DashboardHistoryIT.find(runtime.dashboard(), "call-browser-3")
                    .filter(c -> !DashboardHistoryIT.turn(c, 0).isEmpty()).isPresent());
            page.waitForTimeout(1000); // the event reaches the page over SSE
            late.get(0).run();
            events.text("call-browser-3", 0, 0, 1, " le monde.", true);

            // Then the older snapshot wiped nothing: the reply holds both pieces
            assertThat(page.locator("[data-call='call-browser-3'] [data-turn='0'] [data-role='assistant-text']"))
                    .hasText("Bonjour le monde.");
        }
    }

    @Test
    void shouldShowEachWorkersRunningTurnsMarginAndAdmissionHold() {
        try (PipelineEvents events = new PipelineEvents(runtime);
             Playwright playwright = playwright();
             Browser browser = chromium(playwright)) {
            // Given the dashboard open and its event stream connected
            Page page = browser.newPage();
            page.navigate(base.toString());
            assertThat(page.locator("#stream-state")).hasText("stream: live");

            // When a worker's delta says: 3 turns running, the least 41.6 ms ahead of playback, newcomers held
            events.send(Topics.RESPONSE_TEXT, "call-worker-1", delta("call-worker-1", 0, false, "gpu-7",
                    WorkerLoad.newBuilder().setStampedUs(1_000_000L).setRunningTurns(3).setWaitingTurns(2)
                            .setLeastMarginUs(41_600L).setAdmissionHolding(true).setAdmissionMarginUs(200_000L).build()));

            // Then the page's worker row says so, live over SSE
            Locator row = page.locator("[data-worker='gpu-7']");
            assertThat(row.locator("[data-role='worker-running']")).hasText("3");
            assertThat(row.locator("[data-role='worker-margin']")).hasText("42 ms");
            assertThat(row.locator("[data-role='worker-holding']")).hasText("yes");
            assertThat(page.locator("#no-workers")).isHidden();

            // When its last delta says nobody runs there any more
            events.send(Topics.RESPONSE_TEXT, "call-worker-1", delta("call-worker-1", 1, true, "gpu-7",
                    WorkerLoad.newBuilder().setStampedUs(1_000_001L).setRunningTurns(0).setWaitingTurns(0)
                            .setLeastMarginUs(null).setAdmissionHolding(false).setAdmissionMarginUs(200_000L).build()));

            // Then it shows no margin (not 0) and no hold, on the live page and in the snapshot a page opened now loads
            assertThat(row.locator("[data-role='worker-running']")).hasText("0");
            assertThat(row.locator("[data-role='worker-margin']")).hasText("—");
            assertThat(row.locator("[data-role='worker-holding']")).hasText("no");
            String gpu7 = "workers.find { it.workerId == 'gpu-7' }";
            io.restassured.RestAssured.given().get("/api/snapshot").then().statusCode(200)
                    .body(gpu7 + ".runningTurns", org.hamcrest.Matchers.equalTo(0))
                    .body(gpu7 + ".leastMarginMs", org.hamcrest.Matchers.nullValue())
                    .body(gpu7 + ".admissionHolding", org.hamcrest.Matchers.equalTo(false))
                    .body(gpu7 + ".admissionMarginMs", org.hamcrest.Matchers.equalTo(200));
            Page later = browser.newPage();
            later.navigate(base.toString());
            assertThat(later.locator("[data-worker='gpu-7'] [data-role='worker-margin']")).hasText("—");
        }
    }

    private static TextDelta delta(String callId, int seq, boolean last, String workerId, WorkerLoad load) {
        return TextDelta.newBuilder().setCallId(callId).setTurnId(0).setAttempt(0).setSeq(seq).setText("t" + seq)
                .setLast(last).setWorkerId(workerId).setTimings(TurnTimings.newBuilder().build()).setWorkerLoad(load)
                .build();
    }

    @Test
    void shouldShowStreamedTextAndUpdateItWhenMoreDeltasArrive() {
        try (PipelineEvents events = new PipelineEvents(runtime);
             Playwright playwright = playwright();
             Browser browser = chromium(playwright)) {
            // Given the dashboard open and its event stream connected
            Page page = browser.newPage();
            page.navigate(base.toString());
            assertThat(page.locator("#stream-state")).hasText("stream: live");
            assertThat(page.locator("#phase")).hasText("running");

            // When a call starts and the worker streams the first piece of a reply
            events.callStarted("call-browser-1");
            events.text("call-browser-1", 1, 0, 0, "Bonjour", false);

            // Then the call shows as live with the piece, marked as still streaming
            Locator call = page.locator("[data-call='call-browser-1']");
            Locator text = call.locator("[data-turn='1'] [data-role='assistant-text']");
            assertThat(call.locator("[data-role='call-state']")).hasText("live");
            assertThat(text).hasText("Bonjour");
            assertThat(text).hasClass(Pattern.compile("streaming"));

            // When the next pieces arrive, one of them twice (at-least-once delivery), the last one final
            events.text("call-browser-1", 1, 0, 1, " le", false);
            events.text("call-browser-1", 1, 0, 1, " le", false);
            events.text("call-browser-1", 1, 0, 2, " monde.", true);

            // Then the text grows in order, without the duplicate, and stops streaming
            assertThat(text).hasText("Bonjour le monde.");
            assertThat(text).not().hasClass(Pattern.compile("streaming"));

            // When the turn's latency split arrives
            events.turnMetrics("call-browser-1", 1, 812_000, 600_000, 150_000, 25_000, 7_000L, 18_000L);

            // Then the turn shows first-audio latency and its breakdown
            assertThat(call.locator("[data-turn='1'] [data-role='first-audio-ms']")).hasText("812 ms");
            assertThat(call.locator("[data-turn='1'] [data-role='stage-breakdown']"))
                    .containsText("VAD end-of-turn wait 600 ms");
            assertThat(call.locator("[data-turn='1'] [data-role='stage-breakdown']"))
                    .containsText("encoder + prefill 150 ms");
            assertThat(call.locator("[data-turn='1'] [data-role='stage-breakdown']"))
                    .containsText("request → worker (Kafka hop) 7 ms");
            assertThat(call.locator("[data-turn='1'] [data-role='stage-breakdown']"))
                    .containsText("worker queue (batch slot) 18 ms");
            assertThat(call.locator("[data-turn='1'] [data-role='stage-breakdown']"))
                    .not().containsText("request → inference");
        }
    }
}
