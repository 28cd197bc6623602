package dev.omnicall.worker;

import java.time.Duration;
import java.util.Locale;
import java.util.Optional;

/**
 * The real-time admission setting ({@code omnicall.worker.admission-margin-ms}, issue 14 item 5): {@code auto} (the
 * default), {@code off}, or a margin in ms (N >= 0). A newcomer starts only while every speaking turn is that much audio
 * ahead of its playback; otherwise the worker pauses {@code turn-requests} (see {@link TurnScheduler}).
 *
 * <p>{@code auto} is {@value #GPU_DEFAULT_MS} ms on a GPU and off on the CPU. On a GPU the model runs far ahead of
 * real time until it is overloaded, and that is when the rule matters: without it every running reply stutters
 * once a worker takes one turn too many. On the CPU (the zero-setup run, CI) the models can fall behind real time even
 * alone, and the rule would then hold every newcomer until the speaking turns finish: calls would be served one
 * reply at a time. The 400 ms is a margin above the bridge's jitter buffer and the Kafka hop, not a figure measured
 * on a GPU (none was lent to this project yet).
 */
public final class AdmissionMargin {

    public static final String AUTO = "auto";
    public static final String OFF = "off";
    public static final long GPU_DEFAULT_MS = 400;

    private AdmissionMargin() {
    }

    /**
     * The margin for a worker on {@code device}: empty when admission is off.
     *
     * @throws IllegalArgumentException naming the key and the values it takes, for anything else
     */
    public static Optional<Duration> resolve(String setting, DeviceSpec device) {
        String s = setting == null ? AUTO : setting.strip().toLowerCase(Locale.ROOT);
        if (s.isEmpty() || s.equals(AUTO)) {
            return device.isGpu() ? Optional.of(Duration.ofMillis(GPU_DEFAULT_MS)) : Optional.empty();
        }
        if (s.equals(OFF)) {
            return Optional.empty();
        }
        long ms;
        try {
            ms = Long.parseLong(s);
        } catch (NumberFormatException e) {
            throw invalid(setting);
        }
        if (ms < 0) {
            throw invalid(setting);
        }
        return Optional.of(Duration.ofMillis(ms));
    }

    /** Why {@code setting} is not a valid value, or empty when it is one. */
    public static Optional<String> problem(String setting) {
        try {
            resolve(setting, DeviceSpec.CPU);
            return Optional.empty();
        } catch (IllegalArgumentException e) {
            return Optional.of(e.getMessage());
        }
    }

    private static IllegalArgumentException invalid(String setting) {
        return new IllegalArgumentException(InferenceWorker.ADMISSION_MARGIN_MS + "='" + setting + "' must be "
                + AUTO + " (" + GPU_DEFAULT_MS + " ms on a GPU, off on the CPU), " + OFF + ", or a margin in ms >= 0");
    }
}
