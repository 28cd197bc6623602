package dev.omnicall.app.boot;

/** One finished step of the start-up sequence, for the log, the dashboard and the start-up figures. */
public record BootStep(String name, long millis, String detail) {
}
