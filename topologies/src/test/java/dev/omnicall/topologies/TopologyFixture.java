package dev.omnicall.topologies;

import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * The life of the {@link ConversationDriver}s one test opens: each gets a fresh state directory, and all of
 * them are closed and their state removed after the test. Register it on an instance field, so that
 * JUnit makes one per test:
 * <pre>
 * {@literal @}RegisterExtension
 * final TopologyFixture topology = new TopologyFixture();
 * private ConversationDriver d = topology.open(ConversationConfig.defaults());
 * </pre>
 * A test that restarts the topology closes its driver and opens another; the new one starts from empty state.
 */
final class TopologyFixture implements AfterEachCallback {

    private final Path root;
    private final List<ConversationDriver> opened = new ArrayList<>();

    TopologyFixture() {
        try {
            root = Files.createTempDirectory("omnicall-topology-");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A driver around the conversation topology built with {@code config}, in a state directory of its own. */
    ConversationDriver open(ConversationConfig config) {
        ConversationDriver d = new ConversationDriver(config, root.resolve("driver-" + opened.size()));
        opened.add(d);
        return d;
    }

    @Override
    public void afterEach(ExtensionContext context) throws IOException {
        opened.forEach(ConversationDriver::close);
        try (Stream<Path> files = Files.walk(root)) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
