package dev.omnicall.deploy;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.client.utils.Serialization;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;

/**
 * One rendered kustomization, read into fabric8 model objects: core kinds come back typed (Deployment,
 * ConfigMap...), custom resources (Strimzi, KEDA, Prometheus Operator) as {@link GenericKubernetesResource}.
 */
final class Rendered {

    final String name;
    final List<ObjectNode> raw;
    final List<HasMetadata> resources;

    private Rendered(String name, List<ObjectNode> raw) {
        this.name = name;
        this.raw = raw;
        this.resources = new ArrayList<>();
        for (ObjectNode node : raw) {
            resources.add(Serialization.unmarshal(node.toString(), HasMetadata.class));
        }
    }

    static Rendered of(String name, Path kustomizationDir) {
        return new Rendered(name, Kustomize.build(kustomizationDir));
    }

    static Rendered base() {
        return of("base", Locations.BASE);
    }

    static Rendered dev() {
        return of("dev", Locations.DEV);
    }

    static Rendered prod() {
        return of("prod", Locations.PROD);
    }

    static List<Rendered> all() {
        return List.of(base(), dev(), prod());
    }

    @Override
    public String toString() {
        return name;
    }

    <T extends HasMetadata> List<T> all(Class<T> type) {
        List<T> found = new ArrayList<>();
        for (HasMetadata resource : resources) {
            if (type.isInstance(resource)) {
                found.add(type.cast(resource));
            }
        }
        return found;
    }

    <T extends HasMetadata> T get(Class<T> type, String resourceName) {
        return all(type).stream()
                .filter(r -> r.getMetadata().getName().equals(resourceName))
                .findFirst()
                .orElseThrow(() -> new NoSuchElementException(name + ": no " + type.getSimpleName() + " " + resourceName));
    }

    List<GenericKubernetesResource> custom(String kind) {
        return all(GenericKubernetesResource.class).stream().filter(r -> r.getKind().equals(kind)).toList();
    }

    GenericKubernetesResource custom(String kind, String resourceName) {
        return custom(kind).stream()
                .filter(r -> r.getMetadata().getName().equals(resourceName))
                .findFirst()
                .orElseThrow(() -> new NoSuchElementException(name + ": no " + kind + " " + resourceName));
    }

    ConfigMap appConfig() {
        return get(ConfigMap.class, "omnicall-config");
    }

    int appConfigInt(String key) {
        return Integer.parseInt(appConfig().getData().get(key));
    }

    /** Pod templates of every Deployment and StatefulSet, by workload name. */
    Map<String, PodTemplateSpec> podTemplates() {
        Map<String, PodTemplateSpec> templates = new LinkedHashMap<>();
        for (Deployment d : all(Deployment.class)) {
            templates.put(d.getMetadata().getName(), d.getSpec().getTemplate());
        }
        for (StatefulSet s : all(StatefulSet.class)) {
            templates.put(s.getMetadata().getName(), s.getSpec().getTemplate());
        }
        return templates;
    }
}
