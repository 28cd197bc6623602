package dev.omnicall.deploy;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * A pure-Java resolver for the part of kustomize these manifests use, so the tests need neither a cluster
 * nor the kustomize binary: {@code resources} (files and kustomization directories), {@code namespace},
 * {@code patches} (JSON 6902 operation lists with a target of kind and name regexes), {@code images} and
 * {@code replicas}. Anything else in a kustomization.yaml is refused rather than ignored, so the resolver and
 * the manifests cannot drift apart silently; {@code KustomizeTest} compares its output with
 * {@code kubectl kustomize} where that is installed.
 */
final class Kustomize {

    static final YAMLMapper YAML = new YAMLMapper();

    private static final Set<String> SUPPORTED_FIELDS =
            Set.of("apiVersion", "kind", "namespace", "resources", "patches", "images", "replicas");

    /** Kinds that live outside namespaces; the namespace transformer leaves them alone. */
    private static final Set<String> CLUSTER_SCOPED = Set.of("Namespace", "ClusterRole", "ClusterRoleBinding",
            "CustomResourceDefinition", "PersistentVolume", "StorageClass", "PriorityClass", "IngressClass",
            "RuntimeClass", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration",
            "ClusterTriggerAuthentication");

    private static final Set<String> SCALABLE_KINDS =
            Set.of("Deployment", "StatefulSet", "ReplicaSet", "ReplicationController");

    private Kustomize() {
    }

    /** Renders the kustomization in {@code dir} to its list of resources, as {@code kubectl kustomize dir}. */
    static List<ObjectNode> build(Path dir) {
        Path file = dir.resolve("kustomization.yaml");
        if (!Files.isRegularFile(file)) {
            throw new KustomizeException(dir + ": no kustomization.yaml");
        }
        JsonNode kustomization = readYamlDocuments(file).get(0);
        for (Iterator<String> it = kustomization.fieldNames(); it.hasNext(); ) {
            String field = it.next();
            if (!SUPPORTED_FIELDS.contains(field)) {
                throw new KustomizeException(file + ": field '" + field + "' is not supported by the Java resolver"
                        + " (supported: " + SUPPORTED_FIELDS + ")");
            }
        }

        List<ObjectNode> resources = new ArrayList<>();
        for (JsonNode entry : kustomization.path("resources")) {
            Path resource = dir.resolve(entry.asText()).normalize();
            if (Files.isDirectory(resource)) {
                resources.addAll(build(resource));
            } else {
                for (JsonNode doc : readYamlDocuments(resource)) {
                    if (!doc.isObject()) {
                        throw new KustomizeException(resource + ": a resource document must be a mapping");
                    }
                    resources.add((ObjectNode) doc);
                }
            }
        }
        rejectDuplicates(resources, dir);

        if (kustomization.hasNonNull("namespace")) {
            String namespace = kustomization.get("namespace").asText();
            for (ObjectNode resource : resources) {
                if (!CLUSTER_SCOPED.contains(resource.path("kind").asText())) {
                    resource.withObjectProperty("metadata").put("namespace", namespace);
                }
            }
        }
        for (JsonNode patch : kustomization.path("patches")) {
            applyPatch(dir, patch, resources);
        }
        for (JsonNode image : kustomization.path("images")) {
            applyImage(image, resources, dir);
        }
        for (JsonNode replicas : kustomization.path("replicas")) {
            applyReplicas(replicas, resources, dir);
        }
        return resources;
    }

    /** Every document of a (multi-document) YAML file; empty documents are skipped. */
    static List<JsonNode> readYamlDocuments(Path file) {
        try (JsonParser parser = YAML.getFactory().createParser(file.toFile());
             MappingIterator<JsonNode> docs = YAML.readValues(parser, JsonNode.class)) {
            List<JsonNode> result = new ArrayList<>();
            while (docs.hasNext()) {
                JsonNode doc = docs.next();
                if (doc != null && !doc.isNull() && !doc.isMissingNode()) {
                    result.add(doc);
                }
            }
            return result;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    /** apiVersion/kind/namespace/name: kustomize's resource identity. */
    static String id(JsonNode resource) {
        JsonNode metadata = resource.path("metadata");
        return resource.path("apiVersion").asText() + "/" + resource.path("kind").asText() + "/"
                + metadata.path("namespace").asText("") + "/" + metadata.path("name").asText();
    }

    private static void rejectDuplicates(List<ObjectNode> resources, Path dir) {
        Set<String> seen = new HashSet<>();
        for (ObjectNode resource : resources) {
            if (!seen.add(id(resource))) {
                throw new KustomizeException(dir + ": resource " + id(resource) + " is declared twice");
            }
        }
    }

    private static void applyPatch(Path dir, JsonNode patch, List<ObjectNode> resources) {
        JsonNode ops;
        String name;
        if (patch.hasNonNull("path")) {
            Path file = dir.resolve(patch.get("path").asText());
            name = file.toString();
            List<JsonNode> docs = readYamlDocuments(file);
            ops = docs.isEmpty() ? YAML.createArrayNode() : docs.get(0);
        } else if (patch.hasNonNull("patch")) {
            name = dir + " inline patch";
            try {
                ops = YAML.readTree(patch.get("patch").asText());
            } catch (IOException e) {
                throw new KustomizeException(name + ": " + e.getMessage());
            }
        } else {
            throw new KustomizeException(dir + ": a patch needs 'path' or 'patch'");
        }
        if (!ops.isArray()) {
            throw new KustomizeException(name + ": only JSON 6902 patches (a list of operations) are supported");
        }
        JsonNode target = patch.path("target");
        Pattern kind = anchored(target.path("kind").asText(".*"));
        Pattern resourceName = anchored(target.path("name").asText(".*"));
        int matched = 0;
        for (ObjectNode resource : resources) {
            if (kind.matcher(resource.path("kind").asText()).matches()
                    && resourceName.matcher(resource.path("metadata").path("name").asText()).matches()) {
                JsonPatch.apply(ops, resource, name + " on " + id(resource));
                matched++;
            }
        }
        if (matched == 0) {
            throw new KustomizeException(name + ": target " + target + " matches no resource");
        }
    }

    private static Pattern anchored(String regex) {
        return Pattern.compile("^(?:" + regex + ")$");
    }

    private static void applyImage(JsonNode image, List<ObjectNode> resources, Path dir) {
        String name = image.path("name").asText();
        if (name.isEmpty()) {
            throw new KustomizeException(dir + ": an images entry needs a name");
        }
        for (ObjectNode resource : resources) {
            visitContainers(resource, container -> {
                String current = container.path("image").asText();
                if (imageName(current).equals(name)) {
                    container.set("image", new TextNode(rewriteImage(current, image)));
                }
            });
        }
    }

    /** The repository part of an image reference: no tag, no digest. */
    static String imageName(String image) {
        String withoutDigest = image.contains("@") ? image.substring(0, image.indexOf('@')) : image;
        int slash = withoutDigest.lastIndexOf('/');
        int colon = withoutDigest.lastIndexOf(':');
        return colon > slash ? withoutDigest.substring(0, colon) : withoutDigest;
    }

    private static String rewriteImage(String current, JsonNode image) {
        String repository = image.hasNonNull("newName") ? image.get("newName").asText() : imageName(current);
        if (image.hasNonNull("digest")) {
            return repository + "@" + image.get("digest").asText();
        }
        if (image.hasNonNull("newTag")) {
            return repository + ":" + image.get("newTag").asText();
        }
        String rest = current.substring(imageName(current).length());
        return repository + rest;
    }

    interface ContainerVisitor {
        void visit(ObjectNode container);
    }

    /** Calls {@code visitor} for every element of any containers/initContainers list in the resource. */
    static void visitContainers(JsonNode node, ContainerVisitor visitor) {
        if (node.isObject()) {
            for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> field = it.next();
                boolean containerList = (field.getKey().equals("containers") || field.getKey().equals("initContainers"))
                        && field.getValue().isArray();
                if (containerList) {
                    for (JsonNode container : field.getValue()) {
                        if (container.isObject()) {
                            visitor.visit((ObjectNode) container);
                        }
                    }
                } else {
                    visitContainers(field.getValue(), visitor);
                }
            }
        } else if (node.isArray()) {
            for (JsonNode element : node) {
                visitContainers(element, visitor);
            }
        }
    }

    private static void applyReplicas(JsonNode replicas, List<ObjectNode> resources, Path dir) {
        String name = replicas.path("name").asText();
        if (!replicas.path("count").canConvertToInt()) {
            throw new KustomizeException(dir + ": replicas entry '" + name + "' needs an integer count");
        }
        int matched = 0;
        for (ObjectNode resource : resources) {
            if (SCALABLE_KINDS.contains(resource.path("kind").asText())
                    && resource.path("metadata").path("name").asText().equals(name)) {
                resource.withObjectProperty("spec").put("replicas", replicas.get("count").asInt());
                matched++;
            }
        }
        if (matched == 0) {
            throw new KustomizeException(dir + ": replicas entry '" + name + "' matches no workload");
        }
    }
}
