package dev.omnicall.bridge.sip;

/**
 * Whether the bridge takes new calls now. Asked for every new INVITE before anything costly is done with it;
 * a refusal is a stateless 503 with {@code Retry-After}, counted as {@code rejected{reason=overload}}.
 */
@FunctionalInterface
public interface OverloadGate {
    /** Takes every call. */
    OverloadGate OPEN = () -> 0;

    /** The Retry-After (seconds, at least 1) for a new call refused now, or 0 to take it. */
    int refuseForSeconds();
}
