package dev.omnicall.testbroker;

import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;

import org.testcontainers.kafka.KafkaContainer;

import java.util.Map;

/**
 * The broker for the {@code @QuarkusTest} integration tests. Embedded (the default): nothing to start and no
 * setting, so the app starts its own embedded broker and creates the topics, the zero-setup path that
 * {@code OmniCallAppIT} checks. Container: an {@code apache/kafka} container, whose address becomes
 * {@code kafka.bootstrap.servers}; the app then creates the topics on it, as it does on any configured cluster.
 *
 * <p>Declare it with {@code @WithTestResource(value = TestBrokerResource.class, scope = TestResourceScope.GLOBAL)}
 * and {@code @ExtendWith(TestBrokerCondition.class)} on every {@code @QuarkusTest} class: global, so every class
 * shares one app boot (as before), and the condition skips the classes where the container cannot start.
 */
public final class TestBrokerResource implements QuarkusTestResourceLifecycleManager {

    private KafkaContainer container;

    @Override
    public Map<String, String> start() {
        BrokerChoice choice = BrokerChoice.current();
        if (choice == BrokerChoice.EMBEDDED) {
            return Map.of();
        }
        choice.skipReason(Docker::available).ifPresent(reason -> {
            // only a class without TestBrokerCondition gets here; running it on the embedded broker would pass
            // it off as a container run
            throw new IllegalStateException(reason + " (a @QuarkusTest class lacks @ExtendWith(TestBrokerCondition.class))");
        });
        // no topics here: the app creates them at its own partition count (omnicall.kafka.create-topics)
        container = ContainerTestBroker.startContainer();
        return Map.of("kafka.bootstrap.servers", container.getBootstrapServers());
    }

    @Override
    public void stop() {
        if (container != null) {
            container.stop();
            container = null;
        }
    }
}
