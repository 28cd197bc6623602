package dev.omnicall.deploy;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;

import java.util.NoSuchElementException;
import java.util.Optional;

/** Small lookups on pod templates. */
final class Pods {

    private Pods() {
    }

    /** The one application container of a workload (every OmniCall workload runs exactly one). */
    static Container app(PodTemplateSpec template) {
        if (template.getSpec().getContainers().size() != 1) {
            throw new IllegalStateException("expected one container, found " + template.getSpec().getContainers().size());
        }
        return template.getSpec().getContainers().get(0);
    }

    static Optional<EnvVar> env(Container container, String name) {
        return container.getEnv().stream().filter(e -> e.getName().equals(name)).findFirst();
    }

    static String envValue(Container container, String name) {
        return env(container, name).map(EnvVar::getValue)
                .orElseThrow(() -> new NoSuchElementException(container.getName() + " sets no " + name));
    }
}
