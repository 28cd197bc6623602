package dev.omnicall.bridge.media;

import java.time.Instant;

/** Wall-clock epoch microseconds, the unit of every timestamp in the events. */
public final class EpochClock {
    private EpochClock() {
    }

    public static long nowMicros() {
        Instant now = Instant.now();
        return now.getEpochSecond() * 1_000_000L + now.getNano() / 1_000;
    }
}
