package dev.omnicall.app.roles;

/** Where a role stands; readiness is UP only when {@link State#RUNNING}, liveness DOWN only when {@link State#FAILED}. */
public record RoleStatus(State state, String detail) {

    public enum State {
        /** Selected, waiting for the broker and topics. */
        PENDING,
        STARTING,
        RUNNING,
        /** Started and then broke (a Streams thread died, the SIP stack stopped): restarting the process helps. */
        FAILED,
        STOPPED
    }

    public static RoleStatus of(State state, String detail) {
        return new RoleStatus(state, detail == null ? "" : detail);
    }
}
