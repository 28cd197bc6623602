package dev.omnicall.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The pure-Java kustomize resolver: its rules on small fixtures, and agreement with the real kustomize. */
class KustomizeTest {

    private static final String DEPLOYMENT = """
            apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: app
            spec:
              replicas: 1
              template:
                spec:
                  containers:
                    - name: main
                      image: registry.example/team/app:1.0
                      env:
                        - name: A
                          value: "1"
                        - name: B
                          value: "2"
                    - name: sidecar
                      image: other/sidecar:2.0
            """;

    @TempDir
    Path dir;

    @ParameterizedTest
    @ValueSource(strings = {"base", "overlays/dev", "overlays/prod"})
    void shouldRenderSameResourcesAsKubectlKustomizeWhenKubectlIsInstalled(String kustomization) throws Exception {
        // Given the real kustomize (kubectl's built-in one); CI without kubectl skips this cross-check
        assumeTrue(kubectlAvailable(), "kubectl not installed: cross-check with the real kustomize skipped");
        Path path = Locations.KUBERNETES.resolve(kustomization);

        // When both render the same kustomization
        Map<String, JsonNode> expected = byId(kubectlKustomize(path));
        Map<String, JsonNode> actual = byId(Kustomize.build(path));

        // Then they produce the same resources, field for field
        assertThat(actual.keySet()).containsExactlyInAnyOrderElementsOf(expected.keySet());
        for (String id : expected.keySet()) {
            assertThat(actual.get(id)).as(id).isEqualTo(expected.get(id));
        }
    }

    @Test
    void shouldApplyPatchesImagesReplicasAndNamespaceWhenOverlayingABase() throws IOException {
        // Given a base with one Deployment and an overlay using every supported field
        write("base/kustomization.yaml", "resources: [app.yaml]\n");
        write("base/app.yaml", DEPLOYMENT);
        write("overlay/kustomization.yaml", """
                namespace: team
                resources: [../base]
                images:
                  - name: registry.example/team/app
                    newTag: "2.0"
                replicas:
                  - name: app
                    count: 3
                patches:
                  - path: patch.yaml
                    target:
                      kind: Deploy.*
                      name: app
                """);
        write("overlay/patch.yaml", """
                - op: test
                  path: /spec/template/spec/containers/0/env/1/name
                  value: B
                - op: replace
                  path: /spec/template/spec/containers/0/env/1/value
                  value: "20"
                - op: add
                  path: /spec/template/spec/containers/0/env/-
                  value: {name: C, value: "3"}
                - op: add
                  path: /metadata/annotations
                  value: {first: "no"}
                - op: add
                  path: /metadata/annotations/example.com~1key
                  value: "yes"
                """);

        // When it is rendered
        List<ObjectNode> resources = Kustomize.build(dir.resolve("overlay"));

        // Then every transformation landed where kustomize puts it
        assertThat(resources).hasSize(1);
        JsonNode app = resources.get(0);
        JsonNode main = app.at("/spec/template/spec/containers/0");
        assertThat(app.at("/metadata/namespace").asText()).isEqualTo("team");
        assertThat(app.at("/spec/replicas").asInt()).isEqualTo(3);
        assertThat(main.at("/image").asText()).isEqualTo("registry.example/team/app:2.0");
        assertThat(app.at("/spec/template/spec/containers/1/image").asText()).isEqualTo("other/sidecar:2.0");
        assertThat(main.at("/env/1/value").asText()).isEqualTo("20");
        assertThat(main.at("/env/2/name").asText()).isEqualTo("C");
        assertThat(app.at("/metadata/annotations").get("example.com/key").asText()).isEqualTo("yes");
        assertThat(app.at("/metadata/annotations").get("first").asText()).isEqualTo("no");
    }

    @Test
    void shouldFailNamingTheOperationWhenATestOperationDoesNotHold() throws IOException {
        // Given a patch written against a list index that holds another variable
        write("kustomization.yaml", """
                resources: [app.yaml]
                patches:
                  - path: patch.yaml
                    target: {kind: Deployment}
                """);
        write("app.yaml", DEPLOYMENT);
        write("patch.yaml", """
                - op: test
                  path: /spec/template/spec/containers/0/env/0/name
                  value: B
                - op: replace
                  path: /spec/template/spec/containers/0/env/0/value
                  value: "20"
                """);

        // When / Then rendering stops at the test, naming it
        assertThatThrownBy(() -> Kustomize.build(dir))
                .isInstanceOf(KustomizeException.class)
                .hasMessageContaining("op #0 (test /spec/template/spec/containers/0/env/0/name)")
                .hasMessageContaining("expected \"B\" but found \"A\"");
    }

    @Test
    void shouldFailWhenAReplaceTargetsAMissingField() throws IOException {
        // Given a patch replacing a field the resource does not have
        write("kustomization.yaml", "resources: [app.yaml]\npatches:\n  - path: p.yaml\n    target: {kind: Deployment}\n");
        write("app.yaml", DEPLOYMENT);
        write("p.yaml", "- op: replace\n  path: /spec/paused\n  value: true\n");

        // When / Then
        assertThatThrownBy(() -> Kustomize.build(dir)).hasMessageContaining("nothing to replace at /spec/paused");
    }

    @Test
    void shouldFailWhenAPatchTargetMatchesNoResource() throws IOException {
        // Given a target naming a resource that does not exist (a typo would otherwise silently drop the patch)
        write("kustomization.yaml", "resources: [app.yaml]\npatches:\n  - path: p.yaml\n    target: {kind: Deployment, name: ap}\n");
        write("app.yaml", DEPLOYMENT);
        write("p.yaml", "- op: remove\n  path: /spec/replicas\n");

        // When / Then
        assertThatThrownBy(() -> Kustomize.build(dir)).hasMessageContaining("matches no resource");
    }

    @Test
    void shouldRefuseKustomizationFieldsItDoesNotImplement() throws IOException {
        // Given a kustomization using a feature the Java resolver does not have
        write("kustomization.yaml", "resources: [app.yaml]\ncommonLabels: {team: a}\n");
        write("app.yaml", DEPLOYMENT);

        // When / Then it refuses instead of rendering something kustomize would not
        assertThatThrownBy(() -> Kustomize.build(dir)).hasMessageContaining("field 'commonLabels' is not supported");
    }

    @Test
    void shouldRejectTheSameResourceDeclaredTwice() throws IOException {
        // Given two files declaring the same Deployment
        write("kustomization.yaml", "resources: [a.yaml, b.yaml]\n");
        write("a.yaml", DEPLOYMENT);
        write("b.yaml", DEPLOYMENT);

        // When / Then
        assertThatThrownBy(() -> Kustomize.build(dir)).hasMessageContaining("declared twice");
    }

    @Test
    void shouldTellImageRepositoryFromTagAndRegistryPort() {
        assertThat(Kustomize.imageName("registry.local:5000/omnicall/app:1.2")).isEqualTo("registry.local:5000/omnicall/app");
        assertThat(Kustomize.imageName("registry.local:5000/omnicall/app")).isEqualTo("registry.local:5000/omnicall/app");
        assertThat(Kustomize.imageName("app@sha256:abc")).isEqualTo("app");
    }

    private void write(String relative, String content) throws IOException {
        Path file = dir.resolve(relative);
        Files.createDirectories(file.getParent());
        Files.writeString(file, content);
    }

    private static Map<String, JsonNode> byId(List<? extends JsonNode> resources) {
        Map<String, JsonNode> map = new TreeMap<>();
        for (JsonNode resource : resources) {
            map.put(Kustomize.id(resource), resource);
        }
        return map;
    }

    static boolean kubectlAvailable() {
        try {
            Process p = new ProcessBuilder("kubectl", "version", "--client").redirectErrorStream(true).start();
            p.getInputStream().readAllBytes();
            return p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private static List<ObjectNode> kubectlKustomize(Path path) throws Exception {
        Process p = new ProcessBuilder("kubectl", "kustomize", path.toString()).redirectErrorStream(false).start();
        byte[] out = p.getInputStream().readAllBytes();
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as("kubectl kustomize " + path + ": " + err).isZero();
        Path rendered = Files.createTempFile("kustomize", ".yaml");
        try {
            Files.write(rendered, out);
            return Kustomize.readYamlDocuments(rendered).stream().map(n -> (ObjectNode) n).toList();
        } finally {
            Files.delete(rendered);
        }
    }
}
