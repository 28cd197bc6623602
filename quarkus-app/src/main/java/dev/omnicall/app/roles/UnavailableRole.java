package dev.omnicall.app.roles;

import dev.omnicall.app.config.Role;
import org.jboss.logging.Logger;

/**
 * A selected role whose library exposes no entry point in this build. It runs nothing: it says so in the
 * log, and its readiness check stays DOWN with the reason, so a deployment that asks for it never looks
 * healthy.
 */
public final class UnavailableRole implements RoleService {

    private static final Logger LOG = Logger.getLogger(UnavailableRole.class);

    private final Role role;
    private final String reason;

    public UnavailableRole(Role role, String reason) {
        this.role = role;
        this.reason = reason;
    }

    @Override
    public Role role() {
        return role;
    }

    @Override
    public void start(RoleContext context) {
        LOG.warnf("role %s not available in this build: %s", role.key(), reason);
    }

    @Override
    public RoleStatus status() {
        return RoleStatus.of(RoleStatus.State.UNAVAILABLE, "role " + role.key() + " not available in this build: " + reason);
    }

    @Override
    public java.util.List<String> bannerLines() {
        return java.util.List.of("role " + role.key() + ": NOT AVAILABLE in this build (" + reason + ")");
    }

    @Override
    public void close() {
        // nothing was started
    }
}
