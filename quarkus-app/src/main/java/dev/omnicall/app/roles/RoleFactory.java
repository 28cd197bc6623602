package dev.omnicall.app.roles;

import dev.omnicall.app.config.Role;
import jakarta.enterprise.context.ApplicationScoped;

/**
 * Creates the service of each role from its library. A role whose library has no entry point yet gets
 * an {@link UnavailableRole} that says so; nothing is faked.
 */
@ApplicationScoped
public class RoleFactory {

    public RoleService create(Role role) {
        return switch (role) {
            case STREAMS -> new UnavailableRole(role, "topologies/ exposes no topology builder yet");
            case WORKER -> new UnavailableRole(role, "gpu-workers/ exposes no inference worker yet");
            case BRIDGE -> new UnavailableRole(role, "telephony-bridge/ exposes no BridgeServer yet");
        };
    }
}
