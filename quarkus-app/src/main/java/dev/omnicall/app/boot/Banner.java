package dev.omnicall.app.boot;

import dev.omnicall.app.config.OmniCallConfig;
import dev.omnicall.app.config.Role;
import dev.omnicall.app.roles.RoleService;
import io.quarkus.vertx.http.HttpServerStart;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * The lines printed once everything has started: where the dashboard is, which SIP URI to call and how to
 * place a test call, and how long each start-up step took.
 */
@ApplicationScoped
public class Banner {

    private static final Logger LOG = Logger.getLogger("dev.omnicall.app");

    @ConfigProperty(name = "quarkus.http.port", defaultValue = "8080")
    int configuredHttpPort;

    private final CountDownLatch httpStarted = new CountDownLatch(1);
    private volatile int httpPort;

    void onHttpStart(@Observes HttpServerStart start) {
        httpPort = start.options().getPort();
        httpStarted.countDown();
    }

    /** The dashboard URL as a caller on this host types it. */
    public String dashboardUrl() {
        int port = httpPort > 0 ? httpPort : configuredHttpPort;
        return "http://localhost:" + port + "/";
    }

    /** The SIP URI to call; a wildcard bind address is shown as the loopback address for local calls. */
    public static String sipUri(OmniCallConfig c) {
        String host = c.rtp().advertisedAddress().orElse(c.sip().host());
        if (host.equals("0.0.0.0") || host.equals("::")) {
            host = "127.0.0.1";
        }
        return "sip:omnicall@" + host + ":" + c.sip().port();
    }

    void print(OmniCallRuntime runtime, long totalMillis) {
        try {
            httpStarted.await(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        OmniCallConfig c = runtime.config();
        List<String> lines = new ArrayList<>();
        lines.add("OmniCall is up in " + totalMillis + " ms: " + String.join(", ", runtime.steps().stream()
                .filter(s -> !s.name().equals("total")).map(s -> s.name() + " " + s.millis() + " ms").toList()));
        lines.add("Dashboard:  " + dashboardUrl());
        lines.add("Health:     " + dashboardUrl() + "q/health/ready    Metrics: " + dashboardUrl() + "q/metrics");
        runtime.embedded().ifPresent(k -> lines.add("Kafka:      embedded broker at " + k.bootstrapServers()
                + " (data in " + k.dataDir() + ")"));
        if (runtime.roleStatus(Role.BRIDGE).state() == dev.omnicall.app.roles.RoleStatus.State.RUNNING) {
            lines.add("Call:       " + sipUri(c) + " (" + String.join("/", c.sip().transports()) + ", G.711 PCMU/PCMA)");
            lines.add("Test call:  bin/call --say \"What is the capital of France?\" --out reply.wav"
                    + "   (or: bin/call --wav question.wav --to " + sipUri(c) + ")");
        }
        for (RoleService role : runtime.roles().values()) {
            lines.addAll(role.bannerLines());
        }
        int width = lines.stream().mapToInt(String::length).max().orElse(40) + 4;
        String rule = "=".repeat(Math.min(width, 120));
        StringBuilder sb = new StringBuilder("\n").append(rule).append('\n');
        lines.forEach(l -> sb.append("  ").append(l).append('\n'));
        sb.append(rule);
        LOG.info(sb);
    }
}
