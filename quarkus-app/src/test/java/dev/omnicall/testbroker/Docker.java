package dev.omnicall.testbroker;

import org.testcontainers.DockerClientFactory;

import java.util.function.Supplier;

/** Whether Testcontainers reaches a Docker engine, asked once per JVM (each failed search logs a page). */
final class Docker {

    private static volatile Boolean available;

    private Docker() {
    }

    static boolean available() {
        Boolean a = available;
        if (a == null) {
            synchronized (Docker.class) {
                a = available;
                if (a == null) {
                    a = inTestcontainersLoader(() -> DockerClientFactory.instance().isDockerAvailable());
                    available = a;
                }
            }
        }
        return a;
    }

    /**
     * Runs Testcontainers with the context class loader that loaded it. Under {@code @QuarkusTest} the context
     * loader is Quarkus' own, and Testcontainers' ServiceLoader lookups then find their strategy classes a second
     * time in that loader ("DockerClientProviderStrategy: ... not a subtype").
     */
    static <T> T inTestcontainersLoader(Supplier<T> work) {
        Thread thread = Thread.currentThread();
        ClassLoader before = thread.getContextClassLoader();
        thread.setContextClassLoader(DockerClientFactory.class.getClassLoader());
        try {
            return work.get();
        } finally {
            thread.setContextClassLoader(before);
        }
    }
}
