package dev.omnicall.deploy;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.EnvFromSource;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HTTPGetAction;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import io.fabric8.kubernetes.client.utils.Serialization;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import static org.assertj.core.api.Assertions.assertThat;

/** What every rendering (base, dev, prod) must hold for the pods, their config and their probes. */
class KubernetesManifestTest {

    private static final List<Rendered> RENDERINGS = Rendered.all();
    private static final ConfigCatalogue CATALOGUE = ConfigCatalogue.load(Locations.CONFIG_CATALOGUE);

    static List<Rendered> renderings() {
        return RENDERINGS;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("renderings")
    void shouldUseOnlyFieldsTheKubernetesSchemaKnows(Rendered rendered) {
        // Given every core resource read into fabric8's typed model
        List<String> unknown = new ArrayList<>();
        for (HasMetadata resource : rendered.resources) {
            // When looking for fields the model had to put aside
            for (String field : UnknownFields.in(resource)) {
                unknown.add(resource.getKind() + "/" + resource.getMetadata().getName() + field);
            }
        }
        // Then there are none (a misspelt or misplaced field would be silently ignored by the API server)
        assertThat(unknown).isEmpty();
    }

    @Test
    void shouldReportAMisspeltFieldWhenOneIsPresent() {
        // Given a container whose liveness probe is misspelt
        Deployment deployment = Serialization.unmarshal("""
                apiVersion: apps/v1
                kind: Deployment
                metadata: {name: x}
                spec:
                  template:
                    spec:
                      containers:
                        - name: app
                          livenesProbe: {httpGet: {path: /q/health/live, port: 8080}}
                """, Deployment.class);

        // When / Then the unknown field is reported with its place
        assertThat(UnknownFields.in(deployment))
                .singleElement().asString()
                .contains(".spec.template.spec.containers[0]").contains("livenesProbe");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("renderings")
    void shouldProbeLivenessAndReadinessOnTheQuarkusHealthPaths(Rendered rendered) {
        int httpPort = Integer.parseInt(catalogueDefault("quarkus.http.port"));
        rendered.podTemplates().forEach((workload, template) -> {
            Container app = Pods.app(template);
            assertThat(app.getPorts()).as(workload + " http port")
                    .anySatisfy(p -> {
                        assertThat(p.getName()).isEqualTo("http");
                        assertThat(p.getContainerPort()).isEqualTo(httpPort);
                    });
            assertProbe(workload + " liveness", app.getLivenessProbe(), "/q/health/live");
            assertProbe(workload + " readiness", app.getReadinessProbe(), "/q/health/ready");
            // A startup probe guards slow starts (model loading) without loosening liveness afterwards.
            assertProbe(workload + " startup", app.getStartupProbe(), "/q/health/live");
        });
    }

    private static void assertProbe(String what, Probe probe, String path) {
        assertThat(probe).as(what).isNotNull();
        HTTPGetAction get = probe.getHttpGet();
        assertThat(get).as(what + " uses HTTP GET").isNotNull();
        assertThat(get.getPath()).as(what + " path").isEqualTo(path);
        assertThat(get.getPort().getStrVal()).as(what + " port").isEqualTo("http");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("renderings")
    void shouldSetOnlyEnvironmentVariablesTheConfigCatalogueKnows(Rendered rendered) {
        // Given every variable a pod receives: its own env and the ConfigMaps it imports whole
        Set<String> problems = new TreeSet<>();
        rendered.podTemplates().forEach((workload, template) -> {
            Container app = Pods.app(template);
            for (EnvVar env : app.getEnv()) {
                check(workload, env.getName(), problems);
            }
            for (EnvFromSource from : app.getEnvFrom()) {
                assertThat(from.getSecretRef()).as(workload + ": import secrets key by key").isNull();
                ConfigMap map = rendered.get(ConfigMap.class, from.getConfigMapRef().getName());
                map.getData().keySet().forEach(key -> check(workload + " via " + map.getMetadata().getName(), key, problems));
            }
        });
        // Then each one maps to a key of application.properties, or passes a real setting to the Kafka clients
        assertThat(problems).isEmpty();
    }

    private static void check(String where, String env, Set<String> problems) {
        String problem = CATALOGUE.problemWith(env);
        if (problem != null) {
            problems.add(where + ": " + problem);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("renderings")
    void shouldRunEachRoleInItsOwnWorkloadOfTheSameApp(Rendered rendered) {
        Map<String, PodTemplateSpec> pods = rendered.podTemplates();
        assertThat(pods).containsOnlyKeys("omnicall-bridge", "omnicall-worker", "omnicall-streams");
        assertThat(rendered.get(StatefulSet.class, "omnicall-streams")).isNotNull();
        pods.forEach((workload, template) -> {
            Container app = Pods.app(template);
            String role = workload.substring("omnicall-".length());
            assertThat(Pods.envValue(app, "OMNICALL_ROLES")).as(workload).isEqualTo(role);
            assertThat(Kustomize.imageName(app.getImage())).as(workload + " image")
                    .isIn("omnicall/omnicall-cpu", "omnicall/omnicall-gpu");
            assertThat(template.getMetadata().getLabels()).as(workload)
                    .containsEntry("app.kubernetes.io/component", role)
                    .containsEntry("app.kubernetes.io/part-of", "omnicall");
            // Each pod names itself in events and group membership by its pod name (HOSTNAME is the node's
            // name on host networking).
            assertThat(Pods.env(app, "OMNICALL_INSTANCE_ID").orElseThrow().getValueFrom().getFieldRef().getFieldPath())
                    .as(workload).isEqualTo("metadata.name");
        });
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("renderings")
    void shouldLetPrometheusScrapeTheMetricsPathOfEveryPod(Rendered rendered) {
        rendered.podTemplates().forEach((workload, template) -> {
            Map<String, String> annotations = template.getMetadata().getAnnotations();
            int http = Pods.app(template).getPorts().stream().filter(p -> "http".equals(p.getName()))
                    .map(ContainerPort::getContainerPort).findFirst().orElseThrow();
            assertThat(annotations).as(workload)
                    .containsEntry("prometheus.io/scrape", "true")
                    .containsEntry("prometheus.io/path", "/q/metrics")
                    .containsEntry("prometheus.io/port", Integer.toString(http));
        });
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("renderings")
    void shouldReferenceOnlySecretsThatWillExist(Rendered rendered) throws IOException {
        // Secrets the operators write: Strimzi's cluster CA per Kafka, the user operator's secret per KafkaUser
        Set<String> available = new TreeSet<>();
        rendered.custom("Kafka").forEach(k -> available.add(k.getMetadata().getName() + "-cluster-ca-cert"));
        rendered.custom("KafkaUser").forEach(u -> available.add(u.getMetadata().getName()));
        rendered.all(Secret.class).forEach(s -> available.add(s.getMetadata().getName()));

        Set<String> referenced = new TreeSet<>();
        rendered.podTemplates().values().forEach(template -> {
            for (EnvVar env : Pods.app(template).getEnv()) {
                if (env.getValueFrom() != null && env.getValueFrom().getSecretKeyRef() != null) {
                    referenced.add(env.getValueFrom().getSecretKeyRef().getName());
                }
            }
            for (Volume volume : template.getSpec().getVolumes()) {
                if (volume.getSecret() != null) {
                    referenced.add(volume.getSecret().getSecretName());
                }
            }
        });
        for (GenericKubernetesResource auth : rendered.custom("TriggerAuthentication")) {
            for (Map<String, Object> ref : listOfMaps(auth.getAdditionalProperties(), "spec", "secretTargetRef")) {
                referenced.add((String) ref.get("name"));
            }
        }
        for (GenericKubernetesResource user : rendered.custom("KafkaUser")) {
            Object password = user.get("spec", "authentication", "password", "valueFrom", "secretKeyRef", "name");
            if (password != null) {
                referenced.add((String) password);
            }
        }

        Set<String> missing = new TreeSet<>(referenced);
        missing.removeAll(available);
        if (rendered.name.equals("dev")) {
            // The dev overlay is self-contained: apply it and it runs.
            assertThat(missing).as("secrets dev references but does not create").isEmpty();
        } else {
            // Elsewhere the operator of the cluster creates them by hand, as the README says.
            assertThat(missing).containsExactlyInAnyOrder("omnicall-kafka-credentials", "omnicall-sip-auth");
            String readme = Files.readString(Locations.DEPLOY.resolve("README.md"));
            missing.forEach(name -> assertThat(readme).as("README explains how to create " + name)
                    .contains("kubectl -n omnicall create secret generic " + name));
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("renderings")
    void shouldRunEveryPodUnprivilegedWithAReadOnlyRoot(Rendered rendered) {
        rendered.podTemplates().forEach((workload, template) -> {
            assertThat(template.getSpec().getAutomountServiceAccountToken()).as(workload).isFalse();
            assertThat(template.getSpec().getSecurityContext().getRunAsNonRoot()).as(workload).isTrue();
            Container app = Pods.app(template);
            assertThat(app.getSecurityContext().getAllowPrivilegeEscalation()).as(workload).isFalse();
            assertThat(app.getSecurityContext().getReadOnlyRootFilesystem()).as(workload).isTrue();
            assertThat(app.getSecurityContext().getCapabilities().getDrop()).as(workload).containsExactly("ALL");
            // The JVM, DJL and RocksDB unpack native libraries: /tmp must be a writable volume.
            assertThat(app.getVolumeMounts()).as(workload).anySatisfy(m -> assertThat(m.getMountPath()).isEqualTo("/tmp"));
            // Memory is not overcommitted: a GPU worker killed for memory loses its model load.
            assertThat(app.getResources().getLimits().get("memory"))
                    .as(workload).isEqualTo(app.getResources().getRequests().get("memory"));
        });
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("renderings")
    void shouldCoverEveryWorkloadWithExactlyOneDisruptionBudget(Rendered rendered) {
        List<PodDisruptionBudget> budgets = rendered.all(PodDisruptionBudget.class);
        rendered.podTemplates().forEach((workload, template) -> {
            Map<String, String> labels = template.getMetadata().getLabels();
            long covering = budgets.stream()
                    .filter(b -> labels.entrySet().containsAll(b.getSpec().getSelector().getMatchLabels().entrySet()))
                    .count();
            assertThat(covering).as(workload).isEqualTo(1);
        });
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("renderings")
    void shouldKeepStreamsStateOnAPersistentVolume(Rendered rendered) {
        StatefulSet streams = rendered.get(StatefulSet.class, "omnicall-streams");
        Container app = Pods.app(streams.getSpec().getTemplate());
        String stateDir = Pods.envValue(app, "OMNICALL_STREAMS_STATE_DIR");
        String claim = app.getVolumeMounts().stream().filter(m -> m.getMountPath().equals(stateDir))
                .findFirst().orElseThrow().getName();
        assertThat(streams.getSpec().getVolumeClaimTemplates())
                .anySatisfy(t -> assertThat(t.getMetadata().getName()).isEqualTo(claim));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("renderings")
    void shouldGiveEachBridgeItsNodesSipPortAndAnRtpRangeLargeEnoughForItsCalls(Rendered rendered) {
        StatefulSet bridge = rendered.get(StatefulSet.class, "omnicall-bridge");
        PodTemplateSpec template = bridge.getSpec().getTemplate();
        Container app = Pods.app(template);

        // Host networking, cluster DNS still reachable, one bridge per node
        assertThat(template.getSpec().getHostNetwork()).isTrue();
        assertThat(template.getSpec().getDnsPolicy()).isEqualTo("ClusterFirstWithHostNet");
        assertThat(template.getSpec().getAffinity().getPodAntiAffinity().getRequiredDuringSchedulingIgnoredDuringExecution())
                .singleElement().satisfies(term -> {
                    assertThat(term.getTopologyKey()).isEqualTo("kubernetes.io/hostname");
                    assertThat(term.getLabelSelector().getMatchLabels()).containsEntry("app.kubernetes.io/component", "bridge");
                });

        // Bridge i of N owns the response-audio partitions p % N == i: N is the replica count, i the ordinal
        assertThat(Integer.parseInt(Pods.envValue(app, "OMNICALL_BRIDGE_COUNT"))).as("OMNICALL_BRIDGE_COUNT")
                .isEqualTo(bridge.getSpec().getReplicas())
                .isLessThanOrEqualTo(rendered.appConfigInt("OMNICALL_KAFKA_PARTITIONS"));
        assertThat(Pods.env(app, "OMNICALL_BRIDGE_INDEX").orElseThrow().getValueFrom().getFieldRef().getFieldPath())
                .isEqualTo("metadata.labels['apps.kubernetes.io/pod-index']");

        // SDP carries the node's address; two ports (RTP + RTCP) per call fit in the range
        assertThat(Pods.env(app, "OMNICALL_RTP_ADVERTISED_ADDRESS").orElseThrow()
                .getValueFrom().getFieldRef().getFieldPath()).isEqualTo("status.hostIP");
        int min = Integer.parseInt(Pods.envValue(app, "OMNICALL_RTP_PORT_MIN"));
        int max = Integer.parseInt(Pods.envValue(app, "OMNICALL_RTP_PORT_MAX"));
        int calls = Integer.parseInt(Pods.envValue(app, "OMNICALL_SIP_MAX_CALLS"));
        assertThat((max - min + 1) / 2).as("RTP/RTCP pairs in the range").isGreaterThanOrEqualTo(calls);
        int sip = Integer.parseInt(Pods.envValue(app, "OMNICALL_SIP_PORT"));
        assertThat(app.getPorts()).extracting(ContainerPort::getContainerPort, ContainerPort::getProtocol)
                .contains(org.assertj.core.groups.Tuple.tuple(sip, "UDP"), org.assertj.core.groups.Tuple.tuple(sip, "TCP"));
        assertThat(sip < min || sip > max).as("SIP port outside the RTP range").isTrue();
    }

    private static String catalogueDefault(String key) {
        try {
            java.util.Properties p = new java.util.Properties();
            try (var in = Files.newInputStream(Locations.CONFIG_CATALOGUE)) {
                p.load(in);
            }
            return p.getProperty(key);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    @SuppressWarnings("unchecked")
    static List<Map<String, Object>> listOfMaps(Map<String, Object> root, String... path) {
        Object node = root;
        for (String step : path) {
            node = node instanceof Map<?, ?> m ? m.get(step) : null;
        }
        return node instanceof List<?> list ? (List<Map<String, Object>>) list : List.of();
    }
}
