package dev.omnicall.app.roles;

import dev.omnicall.app.config.Role;
import jakarta.enterprise.context.ApplicationScoped;

/**
 * Creates the service of each role from its library's entry point: topologies' {@code StreamsRole},
 * gpu-workers' {@code InferenceWorker}, telephony-bridge's {@code BridgeServer}.
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
