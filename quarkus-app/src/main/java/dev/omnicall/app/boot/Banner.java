package dev.omnicall.app.boot;

import dev.omnicall.app.roles.RoleService;
import io.quarkus.vertx.http.HttpServerStart;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

import java.util.ArrayList;
import java.util.List;

/**
 * The lines printed once everything has started: where the dashboard is, which SIP URI to call and how to
 * place a test call, and how long each start-up step took.
 */
@ApplicationScoped
public class Banner {

    private static final Logger LOG = Logger.getLogger("dev.omnicall.app");

    @ConfigProperty(name = "quarkus.http.port", defaultValue = "8080")
    int configuredHttpPort;

    private volatile int httpPort;

    /** The port the HTTP server bound (the configured one unless the event says otherwise). */
    void onHttpStart(@Observes HttpServerStart start) {
        httpPort = start.options().getPort();
    }

    /** The dashboard URL as a browser on this host types it. */
    public String dashboardUrl() {
        int port = httpPort > 0 ? httpPort : configuredHttpPort;
        return "http://localhost:" + port + "/";
    }

    void print(OmniCallRuntime runtime, long totalMillis) {
        List<String> lines = new ArrayList<>();
        lines.add("OmniCall is up in " + totalMillis + " ms: " + String.join(", ", runtime.steps().stream()
                .filter(s -> !s.name().equals("total")).map(s -> s.name() + " " + s.millis() + " ms").toList()));
        lines.add("Dashboard:  " + dashboardUrl());
        lines.add("Health:     " + dashboardUrl() + "q/health/ready    Metrics: " + dashboardUrl() + "q/metrics");
        runtime.embedded().ifPresent(k -> lines.add("Kafka:      embedded broker at " + k.bootstrapServers()
                + " (data in " + k.dataDir() + ")"));
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
