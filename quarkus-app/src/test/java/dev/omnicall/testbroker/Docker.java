package dev.omnicall.testbroker;

import org.testcontainers.DockerClientFactory;

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
                    a = DockerClientFactory.instance().isDockerAvailable();
                    available = a;
                }
            }
        }
        return a;
    }
}
