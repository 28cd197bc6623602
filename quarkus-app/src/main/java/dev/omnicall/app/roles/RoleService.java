package dev.omnicall.app.roles;

import dev.omnicall.app.config.Role;

/**
 * One role of the process, wrapping a library's entry point. {@link #start} returns once the role is
 * serving (or throws); {@link #close} stops it and must be safe to call in any state.
 */
public interface RoleService extends AutoCloseable {

    Role role();

    void start(RoleContext context) throws Exception;

    RoleStatus status();

    /** Lines for the start-up banner (the SIP URI for the bridge); empty by default. */
    default java.util.List<String> bannerLines() {
        return java.util.List.of();
    }

    @Override
    void close();
}
