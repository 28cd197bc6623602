package dev.omnicall.kafka;

import java.time.Instant;

/** Wall-clock stamps in epoch microseconds, the unit of every timestamp field in the events. */
public final class Clock {

    private Clock() {
    }

    public static long nowMicros() {
        Instant now = Instant.now();
        return now.getEpochSecond() * 1_000_000L + now.getNano() / 1_000;
    }
}
