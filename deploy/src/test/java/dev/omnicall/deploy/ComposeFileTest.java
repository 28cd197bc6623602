package dev.omnicall.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.omnicall.kafka.Topic;
import dev.omnicall.kafka.Topics;
import org.apache.kafka.common.utils.AppInfoParser;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The compose file for one Docker host: KRaft Kafka, an Apicurio 3 registry, the app by role with the
 * Apicurio serde, all on keys of the app's configuration catalogue. Read as YAML (there is no Docker
 * engine or compose plugin here to run {@code docker compose config}).
 */
class ComposeFileTest {

    private static final JsonNode COMPOSE = Kustomize.readYamlDocuments(Locations.COMPOSE).get(0);
    private static final JsonNode SERVICES = COMPOSE.path("services");
    private static final ConfigCatalogue CATALOGUE = ConfigCatalogue.load(Locations.CONFIG_CATALOGUE);
    private static final Pattern CREATE_TOPIC = Pattern.compile("kafka-topics\\.sh .*--create .*--topic (\\S+) (.*)");

    @Test
    void shouldRunKafkaInKRaftModeAtTheClientsVersion() {
        JsonNode kafka = SERVICES.path("kafka");
        assertThat(kafka.path("image").asText()).isEqualTo("apache/kafka:" + AppInfoParser.getVersion());
        JsonNode env = kafka.path("environment");
        assertThat(env.path("KAFKA_PROCESS_ROLES").asText().split(",")).containsExactlyInAnyOrder("broker", "controller");
        assertThat(env.path("KAFKA_CONTROLLER_QUORUM_VOTERS").asText()).isEqualTo(env.path("KAFKA_NODE_ID").asText() + "@kafka:9093");
        assertThat(COMPOSE.toString()).doesNotContainIgnoringCase("zookeeper");
    }

    @Test
    void shouldRunAnApicurio3RegistryAndPointEveryAppServiceAtIt() {
        String image = SERVICES.path("apicurio").path("image").asText();
        assertThat(image).matches("apicurio/apicurio-registry:3\\.[0-9.]+");
        appServices().forEach((name, service) -> {
            JsonNode env = service.path("environment");
            assertThat(env.path("OMNICALL_SERDE_KIND").asText()).as(name).isEqualTo("apicurio");
            URI registry = URI.create(env.path("OMNICALL_SERDE_REGISTRY_URL").asText());
            assertThat(registry.getHost()).as(name).isEqualTo("apicurio");
            assertThat(registry.getPort()).as(name).isEqualTo(8080);
            assertThat(registry.getPath()).as(name).isEqualTo("/apis/registry/v3");
            assertThat(service.path("depends_on").has("apicurio")).as(name).isTrue();
        });
    }

    @Test
    void shouldSetOnlyEnvironmentVariablesTheConfigCatalogueKnows() {
        Set<String> problems = new TreeSet<>();
        appServices().forEach((name, service) -> {
            for (Iterator<String> it = service.path("environment").fieldNames(); it.hasNext(); ) {
                String problem = CATALOGUE.problemWith(it.next());
                if (problem != null) {
                    problems.add(name + ": " + problem);
                }
            }
        });
        assertThat(problems).isEmpty();
    }

    @Test
    void shouldRunEveryRoleWithOneSharedKafkaSetup() {
        Set<String> roles = new TreeSet<>();
        Set<String> partitions = new TreeSet<>();
        appServices().forEach((name, service) -> {
            JsonNode env = service.path("environment");
            roles.add(env.path("OMNICALL_ROLES").asText());
            partitions.add(env.path("OMNICALL_KAFKA_PARTITIONS").asText());
            assertThat(env.path("KAFKA_BOOTSTRAP_SERVERS").asText()).as(name).isEqualTo("kafka:9092");
            assertThat(service.path("depends_on").path("kafka-topics").path("condition").asText())
                    .as(name).isEqualTo("service_completed_successfully");
        });
        assertThat(roles).containsExactlyInAnyOrder("bridge", "streams", "worker");
        assertThat(partitions).hasSize(1);
    }

    @Test
    void shouldCreateEveryRegistryTopicWithTheAppsPartitionCountAndSettings() {
        // Given the topic-creation commands of the one-shot kafka-topics service
        String script = SERVICES.path("kafka-topics").path("command").get(0).asText();
        Map<String, String> argumentsByTopic = new HashMap<>();
        for (String line : script.split("\n")) {
            Matcher m = CREATE_TOPIC.matcher(line.strip());
            if (m.find()) {
                argumentsByTopic.put(m.group(1), m.group(2));
            }
        }
        String partitions = SERVICES.path("worker").path("environment").path("OMNICALL_KAFKA_PARTITIONS").asText();

        // Then exactly the registry's topics are created, all with one partition count and their settings
        assertThat(argumentsByTopic.keySet()).containsExactlyInAnyOrderElementsOf(
                Topics.all().stream().map(Topic::name).toList());
        for (Topic<?> topic : Topics.all()) {
            String arguments = argumentsByTopic.get(topic.name());
            assertThat(arguments).as(topic.name()).contains("--partitions " + partitions + " ");
            topic.topicConfigs().forEach((key, value) ->
                    assertThat(arguments).as(topic.name()).contains("--config " + key + "=" + value));
        }
    }

    @Test
    void shouldPublishTheBridgesSipPortAndWholeRtpRangeOneToOne() {
        JsonNode bridge = SERVICES.path("bridge");
        JsonNode env = bridge.path("environment");
        String sip = env.path("OMNICALL_SIP_PORT").asText();
        String range = env.path("OMNICALL_RTP_PORT_MIN").asText() + "-" + env.path("OMNICALL_RTP_PORT_MAX").asText();
        List<String> ports = new ArrayList<>();
        bridge.path("ports").forEach(p -> ports.add(p.asText()));
        assertThat(ports).contains(sip + ":" + sip + "/udp", sip + ":" + sip + "/tcp", range + ":" + range + "/udp");
        int pairs = (env.path("OMNICALL_RTP_PORT_MAX").asInt() - env.path("OMNICALL_RTP_PORT_MIN").asInt() + 1) / 2;
        assertThat(pairs).isGreaterThanOrEqualTo(env.path("OMNICALL_SIP_MAX_CALLS").asInt());
    }

    @Test
    void shouldMountTheRealModelReadOnlyIntoTheGpuWorkerOnly() {
        JsonNode gpu = SERVICES.path("worker-gpu");
        assertThat(gpu.path("profiles").get(0).asText()).isEqualTo("gpu");
        assertThat(gpu.path("image").asText()).startsWith("omnicall/omnicall-gpu:");
        assertThat(gpu.path("environment").path("OMNICALL_MODEL_DEVICE").asText()).isEqualTo("gpu:0");
        String modelDir = gpu.path("environment").path("OMNICALL_MODEL_DIR").asText();
        assertThat(gpu.path("volumes")).anySatisfy(v -> {
            String[] parts = v.asText().split(":");
            assertThat(modelDir).startsWith(parts[parts.length - 2] + "/");
            assertThat(parts[parts.length - 1]).isEqualTo("ro");
        });
        JsonNode device = gpu.at("/deploy/resources/reservations/devices/0");
        assertThat(device.path("driver").asText()).isEqualTo("nvidia");
        assertThat(device.path("count").asInt()).isEqualTo(1);

        // The CPU worker writes its tiny model into a writable volume; no service has GPU access besides
        appServices().forEach((name, service) -> {
            if (!name.equals("worker-gpu")) {
                assertThat(service.has("deploy")).as(name).isFalse();
            }
        });
    }

    /** Services running the OmniCall image. */
    static Map<String, JsonNode> appServices() {
        Map<String, JsonNode> app = new HashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = SERVICES.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> service = it.next();
            if (service.getValue().path("image").asText().startsWith("omnicall/")) {
                app.put(service.getKey(), service.getValue());
            }
        }
        assertThat(app).containsKeys("bridge", "streams", "worker", "worker-gpu");
        return app;
    }
}
