package dev.omnicall.deploy;

import java.nio.file.Files;
import java.nio.file.Path;

/** Where the files under test live, whether Maven runs from deploy/ (the usual) or from the repository root. */
final class Locations {

    static final Path DEPLOY = findDeploy();
    static final Path REPOSITORY = DEPLOY.getParent();
    static final Path KUBERNETES = DEPLOY.resolve("kubernetes");
    static final Path BASE = KUBERNETES.resolve("base");
    static final Path DEV = KUBERNETES.resolve("overlays/dev");
    static final Path PROD = KUBERNETES.resolve("overlays/prod");
    static final Path COMPOSE = DEPLOY.resolve("compose/compose.yaml");
    static final Path DOCKER = DEPLOY.resolve("docker");
    static final Path CONFIG_CATALOGUE = REPOSITORY.resolve("quarkus-app/src/main/resources/application.properties");

    private Locations() {
    }

    private static Path findDeploy() {
        Path here = Path.of("").toAbsolutePath();
        for (Path candidate : new Path[] {here, here.resolve("deploy")}) {
            if (Files.isDirectory(candidate.resolve("kubernetes/base"))) {
                return candidate;
            }
        }
        throw new IllegalStateException("cannot find deploy/kubernetes/base from " + here);
    }
}
