package dev.omnicall.app.roles;

import dev.omnicall.app.config.Role;
import jakarta.enterprise.context.ApplicationScoped;

/**
 * Creates the service of each role from its library. A role whose library has no entry point in a build
 * gets an {@link UnavailableRole} that says so (readiness DOWN with the reason); nothing is faked. All
 * three are wired in this build.
 */
@ApplicationScoped
public class RoleFactory {

    public RoleService create(Role role, java.nio.file.Path modelDir) {
        return switch (role) {
            case STREAMS -> new StreamsRoleService();
            case WORKER -> new WorkerRoleService(modelDir);
            case BRIDGE -> new BridgeRoleService();
        };
    }
}
