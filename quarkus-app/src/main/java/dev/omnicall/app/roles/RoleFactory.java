package dev.omnicall.app.roles;

import dev.omnicall.app.config.Role;
import jakarta.enterprise.context.ApplicationScoped;

/**
 * Creates the service of each role from its library's entry point: topologies' {@code StreamsRole},
 * gpu-workers' {@code InferenceWorker}, telephony-bridge's {@code BridgeServer}.
 */
@ApplicationScoped
public class RoleFactory {

    /**
     * @param modelDir             the checkpoint the worker loads (the boot sequence's {@code ModelChoice})
     * @param encoderPaddedSeconds the worker's log-mel input length for it
     */
    public RoleService create(Role role, java.nio.file.Path modelDir, double encoderPaddedSeconds) {
        return switch (role) {
            case STREAMS -> new StreamsRoleService();
            case WORKER -> new WorkerRoleService(modelDir, encoderPaddedSeconds);
            case BRIDGE -> new BridgeRoleService();
        };
    }
}
