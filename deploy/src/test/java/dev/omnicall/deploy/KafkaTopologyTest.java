package dev.omnicall.deploy;

import dev.omnicall.kafka.Topic;
import dev.omnicall.kafka.Topics;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import org.apache.kafka.common.utils.AppInfoParser;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The Kafka side of every rendering: Strimzi in KRaft mode, the topics of {@link Topics} with one shared
 * partition count, the app's identity and rights, and a worker autoscaler that stays within the partitions.
 */
class KafkaTopologyTest {

    static List<Rendered> renderings() {
        return KubernetesManifestTest.renderings();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("renderings")
    void shouldDeclareExactlyTheTopicsOfTheRegistry(Rendered rendered) {
        Set<String> declared = rendered.custom("KafkaTopic").stream()
                .map(t -> t.getMetadata().getName()).collect(Collectors.toCollection(TreeSet::new));
        Set<String> registry = Topics.all().stream().map(Topic::name).collect(Collectors.toCollection(TreeSet::new));
        assertThat(declared).isEqualTo(registry);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("renderings")
    void shouldGiveEveryCallKeyedTopicThePartitionCountTheAppIsConfiguredFor(Rendered rendered) {
        // Every topic is keyed by call ID: partition i of each must hold the same calls
        Map<String, Integer> partitions = new HashMap<>();
        rendered.custom("KafkaTopic").forEach(t -> partitions.put(t.getMetadata().getName(), spec(t, "partitions")));

        assertThat(Set.copyOf(partitions.values())).as("distinct partition counts " + partitions).hasSize(1);
        assertThat(partitions.values().iterator().next()).isEqualTo(rendered.appConfigInt("OMNICALL_KAFKA_PARTITIONS"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("renderings")
    void shouldCarryTheRegistrysRetentionCompactionAndRecordSize(Rendered rendered) {
        for (Topic<?> topic : Topics.all()) {
            GenericKubernetesResource declared = rendered.custom("KafkaTopic", topic.name());
            @SuppressWarnings("unchecked")
            Map<String, Object> config = (Map<String, Object>) declared.get("spec", "config");
            Map<String, String> asStrings = new HashMap<>();
            config.forEach((k, v) -> asStrings.put(k, String.valueOf(v)));
            assertThat(asStrings).as(topic.name()).containsAllEntriesOf(topic.topicConfigs());
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("renderings")
    void shouldReplicateTopicsOnlyAsFarAsTheBrokersAllow(Rendered rendered) {
        int brokers = rendered.custom("KafkaNodePool").stream()
                .filter(pool -> ((List<?>) pool.get("spec", "roles")).contains("broker"))
                .mapToInt(pool -> spec(pool, "replicas")).sum();
        int replication = rendered.appConfigInt("OMNICALL_KAFKA_REPLICATION_FACTOR");
        assertThat(replication).isBetween(1, brokers);
        rendered.custom("KafkaTopic").forEach(t ->
                assertThat(spec(t, "replicas")).as(t.getMetadata().getName()).isEqualTo(replication));

        // acks=all only protects data if min.insync.replicas leaves room for one broker to be down
        GenericKubernetesResource kafka = rendered.custom("Kafka", "omnicall");
        int minIsr = ((Number) kafka.get("spec", "kafka", "config", "min.insync.replicas")).intValue();
        int defaultReplication = ((Number) kafka.get("spec", "kafka", "config", "default.replication.factor")).intValue();
        assertThat(defaultReplication).isEqualTo(replication);
        assertThat(minIsr).isEqualTo(replication == 1 ? 1 : replication - 1);
        for (String internal : List.of("offsets.topic.replication.factor", "transaction.state.log.replication.factor",
                "share.coordinator.state.topic.replication.factor")) {
            assertThat(((Number) kafka.get("spec", "kafka", "config", internal)).intValue()).as(internal).isBetween(1, brokers);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("renderings")
    void shouldRunKafkaInKRaftModeOnNodePoolsAtTheClientsVersion(Rendered rendered) {
        GenericKubernetesResource kafka = rendered.custom("Kafka", "omnicall");
        assertThat(kafka.getMetadata().getAnnotations())
                .containsEntry("strimzi.io/kraft", "enabled")
                .containsEntry("strimzi.io/node-pools", "enabled");
        assertThat(kafka.getAdditionalProperties().get("spec")).asString().doesNotContain("zookeeper");
        // The broker runs the same Kafka release the app's clients are built with
        assertThat(String.valueOf((Object) kafka.get("spec", "kafka", "version"))).isEqualTo(AppInfoParser.getVersion());

        Set<String> roles = new TreeSet<>();
        for (GenericKubernetesResource pool : rendered.custom("KafkaNodePool")) {
            assertThat(pool.getMetadata().getLabels()).containsEntry("strimzi.io/cluster", "omnicall");
            roles.addAll((List<String>) pool.get("spec", "roles"));
        }
        assertThat(roles).containsExactly("broker", "controller");
        int controllers = rendered.custom("KafkaNodePool").stream()
                .filter(pool -> ((List<?>) pool.get("spec", "roles")).contains("controller"))
                .mapToInt(pool -> spec(pool, "replicas")).sum();
        assertThat(controllers % 2).as("an odd controller quorum").isEqualTo(1);

        for (String kind : List.of("KafkaTopic", "KafkaUser")) {
            rendered.custom(kind).forEach(r -> assertThat(r.getMetadata().getLabels())
                    .as(kind + " " + r.getMetadata().getName()).containsEntry("strimzi.io/cluster", "omnicall"));
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("renderings")
    void shouldConnectTheAppToATlsScramListener(Rendered rendered) {
        Map<String, String> config = rendered.appConfig().getData();
        String bootstrap = config.get("KAFKA_BOOTSTRAP_SERVERS");
        int port = Integer.parseInt(bootstrap.substring(bootstrap.lastIndexOf(':') + 1));
        assertThat(bootstrap).startsWith("omnicall-kafka-bootstrap:");
        assertThat(config).containsEntry("KAFKA_SECURITY_PROTOCOL", "SASL_SSL").containsEntry("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512");

        List<Map<String, Object>> listeners = KubernetesManifestTest.listOfMaps(
                rendered.custom("Kafka", "omnicall").getAdditionalProperties(), "spec", "kafka", "listeners");
        assertThat(listeners).anySatisfy(l -> {
            assertThat(l.get("port")).isEqualTo(port);
            assertThat(l.get("tls")).isEqualTo(true);
            assertThat(((Map<?, ?>) l.get("authentication")).get("type")).isEqualTo("scram-sha-512");
        });
        // The truststore file is the cluster CA mounted from Strimzi's secret
        String truststore = config.get("KAFKA_SSL_TRUSTSTORE_LOCATION");
        rendered.podTemplates().forEach((workload, template) -> {
            var mount = Pods.app(template).getVolumeMounts().stream()
                    .filter(m -> truststore.startsWith(m.getMountPath() + "/")).findFirst().orElseThrow();
            var volume = template.getSpec().getVolumes().stream().filter(v -> v.getName().equals(mount.getName())).findFirst().orElseThrow();
            assertThat(volume.getSecret().getSecretName()).as(workload).isEqualTo("omnicall-cluster-ca-cert");
            assertThat(Pods.env(Pods.app(template), "KAFKA_SASL_JAAS_CONFIG").orElseThrow()
                    .getValueFrom().getSecretKeyRef().getName()).as(workload).isEqualTo("omnicall-app");
        });
    }

    @SuppressWarnings("unchecked")
    @ParameterizedTest(name = "{0}")
    @MethodSource("renderings")
    void shouldGrantTheAppEveryPipelineTopicAndItsGroups(Rendered rendered) {
        GenericKubernetesResource user = rendered.custom("KafkaUser", "omnicall-app");
        List<Map<String, Object>> acls = KubernetesManifestTest.listOfMaps(user.getAdditionalProperties(), "spec", "authorization", "acls");
        for (Topic<?> topic : Topics.all()) {
            assertThat(acls).as(topic.name()).anySatisfy(acl -> {
                Map<?, ?> resource = (Map<?, ?>) acl.get("resource");
                assertThat(resource.get("type")).isEqualTo("topic");
                assertThat(resource.get("name")).isEqualTo(topic.name());
                assertThat((List<Object>) acl.get("operations")).contains("Read", "Write", "Describe");
            });
        }
        String workerGroup = (String) triggerMetadata(rendered).get("consumerGroup");
        assertThat(acls).as("group " + workerGroup).anySatisfy(acl -> {
            Map<?, ?> resource = (Map<?, ?>) acl.get("resource");
            assertThat(resource.get("type")).isEqualTo("group");
            assertThat(resource.get("patternType")).isEqualTo("prefix");
            assertThat(workerGroup).startsWith((String) resource.get("name"));
        });
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("renderings")
    void shouldNeverScaleWorkersBeyondThePartitionsOfTurnRequests(Rendered rendered) {
        GenericKubernetesResource scaler = rendered.custom("ScaledObject", "omnicall-worker");
        int partitions = rendered.appConfigInt("OMNICALL_KAFKA_PARTITIONS");
        int max = spec(scaler, "maxReplicaCount");
        int min = spec(scaler, "minReplicaCount");

        assertThat(max).as("maxReplicaCount").isLessThanOrEqualTo(partitions);
        assertThat(partitions % max).as("every worker gets the same number of partitions at the ceiling").isZero();
        assertThat(min).isBetween(1, max);
        assertThat((Object) scaler.get("spec", "scaleTargetRef", "name")).isEqualTo("omnicall-worker");
        // KEDA owns the replica count; a fixed spec.replicas would fight it on every apply
        assertThat(rendered.get(Deployment.class, "omnicall-worker").getSpec().getReplicas()).isNull();

        Map<String, Object> trigger = triggerMetadata(rendered);
        assertThat(trigger.get("topic")).isEqualTo(Topics.TURN_REQUESTS.name());
        assertThat(trigger.get("allowIdleConsumers")).isEqualTo("false");
        assertThat(trigger.get("sasl")).isEqualTo("scram_sha512");
        assertThat(trigger.get("tls")).isEqualTo("enable");
        // KEDA runs in its own namespace: the address is the app's bootstrap, namespace-qualified
        String appBootstrap = rendered.appConfig().getData().get("KAFKA_BOOTSTRAP_SERVERS");
        String namespace = scaler.getMetadata().getNamespace();
        assertThat((Object) trigger.get("bootstrapServers"))
                .isEqualTo(appBootstrap.replace(":", "." + namespace + ".svc:"));
        String authName = (String) scaler.get("spec", "triggers", 0, "authenticationRef", "name");
        assertThat(rendered.custom("TriggerAuthentication", authName)).isNotNull();
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> triggerMetadata(Rendered rendered) {
        GenericKubernetesResource scaler = rendered.custom("ScaledObject", "omnicall-worker");
        assertThat((Object) scaler.get("spec", "triggers", 0, "type")).isEqualTo("kafka");
        return (Map<String, Object>) scaler.get("spec", "triggers", 0, "metadata");
    }

    private static int spec(GenericKubernetesResource resource, String field) {
        return ((Number) resource.get("spec", field)).intValue();
    }
}
