package dev.omnicall.app.health;

import dev.omnicall.app.boot.OmniCallRuntime;
import dev.omnicall.app.config.Role;
import dev.omnicall.app.roles.RoleStatus;
import io.quarkus.runtime.StartupEvent;
import io.smallrye.health.api.HealthRegistry;
import jakarta.annotation.Priority;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.HealthCheckResponseBuilder;
import org.eclipse.microprofile.health.Liveness;
import org.eclipse.microprofile.health.Readiness;

/**
 * Registers the health checks of this process, one per selected role, so {@code /q/health/ready} names
 * exactly what this pod is meant to do:
 *
 * <ul>
 *   <li>readiness {@code omnicall-startup}: the start-up sequence has finished</li>
 *   <li>readiness {@code omnicall-kafka}: brokers known (embedded broker running, or the external one)</li>
 *   <li>readiness {@code omnicall-role-<role>}: UP only while the role runs; an unavailable role stays DOWN
 *       with the reason</li>
 *   <li>readiness {@code omnicall-dashboard}: the dashboard consumer holds its partitions</li>
 *   <li>liveness {@code omnicall-process} and {@code omnicall-role-<role>}: DOWN only when something broke
 *       that a restart can fix (start-up failed, a role's threads died)</li>
 * </ul>
 */
@ApplicationScoped
public class HealthChecks {

    @Inject
    OmniCallRuntime runtime;

    @Inject
    @Readiness
    HealthRegistry readiness;

    @Inject
    @Liveness
    HealthRegistry liveness;

    void register(@Observes @Priority(20) StartupEvent event) {
        readiness.register("omnicall-startup", () -> builder("omnicall-startup")
                .status(runtime.phase() == OmniCallRuntime.Phase.RUNNING)
                .withData("phase", runtime.phase().name())
                .withData("failure", runtime.failure().orElse(""))
                .build());
        readiness.register("omnicall-kafka", () -> {
            var b = builder("omnicall-kafka");
            var embedded = runtime.embedded();
            boolean up = runtime.kafka().isPresent() && embedded.map(k -> k.isRunning()).orElse(true);
            runtime.kafka().ifPresent(k -> b.withData("bootstrap", k.bootstrapServers()));
            b.withData("embedded", embedded.isPresent());
            return b.status(up).build();
        });
        for (Role role : runtime.config().roles()) {
            String name = "omnicall-role-" + role.key();
            readiness.register(name, () -> roleCheck(name, role, runtime.roleStatus(role).state() == RoleStatus.State.RUNNING));
            liveness.register(name, () -> roleCheck(name, role, runtime.roleStatus(role).state() != RoleStatus.State.FAILED));
        }
        if (runtime.config().dashboard().enabled()) {
            readiness.register("omnicall-dashboard", () -> {
                var b = builder("omnicall-dashboard");
                var observer = runtime.observer();
                observer.map(o -> o.lastError()).ifPresent(e -> b.withData("lastError", e));
                return b.status(observer.map(o -> o.assigned()).orElse(false)).build();
            });
        }
        liveness.register("omnicall-process", () -> builder("omnicall-process")
                .status(runtime.phase() != OmniCallRuntime.Phase.FAILED)
                .withData("phase", runtime.phase().name())
                .build());
    }

    private HealthCheckResponse roleCheck(String name, Role role, boolean up) {
        RoleStatus s = runtime.roleStatus(role);
        return builder(name).status(up).withData("state", s.state().name()).withData("detail", s.detail()).build();
    }

    private static HealthCheckResponseBuilder builder(String name) {
        return HealthCheckResponse.named(name);
    }
}
