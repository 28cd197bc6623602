package dev.omnicall.testbroker;

import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;

import java.util.Map;

/**
 * The broker of the {@code @QuarkusTest} integration tests, started before the app as Quarkus test resources are: the
 * project's embedded broker (the default) or an {@code apache/kafka} container ({@code -Dit.kafka=container}), with
 * every topic created at {@value #PARTITIONS} partitions. Its address becomes {@code kafka.bootstrap.servers}, so the
 * app takes it as a configured cluster (and finds its topics there); the extension's Streams client connects to it too.
 *
 * <p>Declare it with {@code @WithTestResource(value = TestBrokerResource.class, scope = TestResourceScope.GLOBAL)}
 * and {@code @ExtendWith(TestBrokerCondition.class)} on every {@code @QuarkusTest} class: global, so every class
 * shares one app boot (as before), and the condition skips the classes where the container cannot start. A test
 * profile that implements {@link OwnBroker} gets no broker: its app starts its own, as in the zero-setup run.
 */
public final class TestBrokerResource implements QuarkusTestResourceLifecycleManager {

    /** The app's partition count in the tests; returned as {@code omnicall.kafka.partitions}, so both agree. */
    static final int PARTITIONS = 2;

    /** Marks a {@code QuarkusTestProfile} whose app starts the embedded broker itself. */
    public interface OwnBroker {
    }

    private TestBroker broker;
    private boolean ownBroker;

    @Override
    public void setContext(Context context) {
        ownBroker = isOwnBroker(context.testProfile());
    }

    @Override
    public Map<String, String> start() {
        if (ownBroker) {
            return Map.of();
        }
        BrokerChoice choice = BrokerChoice.current();
        choice.skipReason(Docker::available).ifPresent(reason -> {
            // only a class without TestBrokerCondition gets here; running it on the embedded broker would pass
            // it off as a container run
            throw new IllegalStateException(reason + " (a @QuarkusTest class lacks @ExtendWith(TestBrokerCondition.class))");
        });
        broker = switch (choice) {
            case EMBEDDED -> EmbeddedTestBroker.start(null, PARTITIONS);
            case CONTAINER -> ContainerTestBroker.start(PARTITIONS);
        };
        return Map.of("kafka.bootstrap.servers", broker.bootstrapServers(),
                "omnicall.kafka.partitions", Integer.toString(PARTITIONS));
    }

    private static boolean isOwnBroker(String profile) {
        if (profile == null || profile.isBlank()) {
            return false;
        }
        try {
            return OwnBroker.class.isAssignableFrom(Class.forName(profile, false, TestBrokerResource.class.getClassLoader()));
        } catch (ClassNotFoundException e) {
            return false;
        }
    }

    @Override
    public void stop() {
        if (broker != null) {
            broker.close();
            broker = null;
        }
    }
}
