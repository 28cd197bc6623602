package dev.omnicall.testbroker;

import java.util.Locale;
import java.util.Optional;
import java.util.function.BooleanSupplier;

/**
 * Which broker the broker-backed integration tests run against, chosen with {@code -Dit.kafka}: {@code embedded}
 * (the default: the project's own {@link dev.omnicall.kafka.EmbeddedKafka}, in the test JVM) or {@code container}
 * (Apache Kafka's own {@code apache/kafka} image through Testcontainers, where a Docker engine is reachable).
 */
public enum BrokerChoice {
    EMBEDDED,
    CONTAINER;

    /** The system property that chooses; Maven passes {@code -Dit.kafka=...} on to the test JVMs. */
    public static final String PROPERTY = "it.kafka";

    /** What {@code -Dit.kafka} says; no value (or an empty one) is the embedded broker. */
    public static BrokerChoice current() {
        return parse(System.getProperty(PROPERTY));
    }

    public static BrokerChoice parse(String value) {
        if (value == null || value.isBlank()) {
            return EMBEDDED;
        }
        return switch (value.trim().toLowerCase(Locale.ROOT)) {
            case "embedded" -> EMBEDDED;
            case "container" -> CONTAINER;
            // a typo must not quietly fall back to the embedded broker and pass as a container run
            default -> throw new IllegalArgumentException(
                    PROPERTY + " must be 'embedded' or 'container', got '" + value + "'");
        };
    }

    /**
     * Why a test on this broker cannot run here, or empty when it can. Only the container needs something from
     * the machine (a Docker engine), so {@code dockerAvailable} is asked for {@link #CONTAINER} alone: looking
     * for Docker takes a while and logs its failed attempts.
     */
    public Optional<String> skipReason(BooleanSupplier dockerAvailable) {
        if (this == EMBEDDED || dockerAvailable.getAsBoolean()) {
            return Optional.empty();
        }
        return Optional.of(PROPERTY + "=container asks for an " + ContainerTestBroker.IMAGE.asCanonicalNameString()
                + " container, but Testcontainers finds no Docker engine here; run without -D" + PROPERTY
                + " (embedded broker) or where Docker runs");
    }
}
