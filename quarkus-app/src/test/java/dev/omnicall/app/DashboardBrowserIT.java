package dev.omnicall.app;

import com.microsoft.playwright.Browser;
import com.microsoft.playwright.BrowserType;
import com.microsoft.playwright.Locator;
import com.microsoft.playwright.Page;
import com.microsoft.playwright.Playwright;
import dev.omnicall.app.boot.OmniCallRuntime;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.net.URL;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

import static com.microsoft.playwright.assertions.PlaywrightAssertions.assertThat;

/**
 * The dashboard in a real headless browser (Debian's chromium, driven by Playwright): text streamed on
 * response-text appears in the call's turn and grows as more deltas arrive; the latency split of the turn
 * shows once its turn-metrics record lands.
 */
@QuarkusTest
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class DashboardBrowserIT {

    private static final Path CHROMIUM = Path.of("/usr/bin/chromium");

    @Inject
    OmniCallRuntime runtime;

    @TestHTTPResource("/")
    URL base;

    @Test
    void shouldShowStreamedTextAndUpdateItWhenMoreDeltasArrive() {
        try (PipelineEvents events = new PipelineEvents(runtime);
             Playwright playwright = Playwright.create(new Playwright.CreateOptions()
                     .setEnv(Map.of("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")));
             Browser browser = playwright.chromium().launch(new BrowserType.LaunchOptions()
                     .setExecutablePath(CHROMIUM).setHeadless(true)
                     .setArgs(List.of("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking")))) {
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
            events.turnMetrics("call-browser-1", 1, 812_000, 600_000, 150_000);

            // Then the turn shows first-audio latency and its breakdown
            assertThat(call.locator("[data-turn='1'] [data-role='first-audio-ms']")).hasText("812 ms");
            assertThat(call.locator("[data-turn='1'] [data-role='stage-breakdown']"))
                    .containsText("VAD end-of-turn wait 600 ms");
            assertThat(call.locator("[data-turn='1'] [data-role='stage-breakdown']"))
                    .containsText("encoder + prefill 150 ms");
        }
    }
}
