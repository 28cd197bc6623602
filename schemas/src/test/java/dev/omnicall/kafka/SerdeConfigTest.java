package dev.omnicall.kafka;

import dev.omnicall.events.CallEvent;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class SerdeConfigTest {

    @Test
    void shouldDefaultToTheRegistryLessSerde() {
        SerdeConfig config = SerdeConfig.fromProperties(Map.of());

        assertThat(config.kind()).isEqualTo(SerdeConfig.Kind.EMBEDDED);
        assertThat(Topics.CALL_EVENTS.valueSerde(config)).isInstanceOf(CatalogAvroSerde.class);
    }

    @Test
    void shouldRequireARegistryUrlForApicurio() {
        assertThatThrownBy(() -> SerdeConfig.fromProperties(Map.of(SerdeConfig.KIND, "apicurio")))
                .hasMessageContaining(SerdeConfig.REGISTRY_URL);
    }

    @Test
    void shouldNameTheUnknownSerdeKind() {
        assertThatThrownBy(() -> SerdeConfig.fromProperties(Map.of(SerdeConfig.KIND, "protobuf")))
                .hasMessageContaining("protobuf").hasMessageContaining("embedded, apicurio, confluent");
    }

    @Test
    void shouldConfigureApicurioForTheConfluentWireFormatAndPassThroughItsKeys() {
        SerdeConfig config = SerdeConfig.fromProperties(Map.of(SerdeConfig.KIND, "apicurio",
                SerdeConfig.REGISTRY_URL, "http://127.0.0.1:1/apis/registry/v3",
                "apicurio.registry.auth.username", "svc", "apicurio.registry.auth.password", "pw", "unrelated.key", "x"));

        Map<String, Object> p = config.apicurioProperties();

        assertThat(p).containsEntry("apicurio.registry.headers.enabled", "false")
                .containsEntry("apicurio.registry.id-handler", "io.apicurio.registry.serde.Default4ByteIdHandler")
                .containsEntry("apicurio.registry.auth.username", "svc")
                .doesNotContainKey("unrelated.key");
        assertThat(config.valueSerde(CallEvent.class).serializer().getClass().getName())
                .isEqualTo("io.apicurio.registry.serde.avro.AvroKafkaSerializer");
    }

    @Test
    void shouldSayWhatIsMissingWhenConfluentSerdesAreNotOnTheClasspath() {
        SerdeConfig config = SerdeConfig.fromProperties(Map.of(SerdeConfig.KIND, "confluent",
                SerdeConfig.REGISTRY_URL, "http://127.0.0.1:1"));

        assertThatThrownBy(() -> config.valueSerde(CallEvent.class))
                .hasMessageContaining("SpecificAvroSerde is not on the classpath");
    }

    @Test
    void shouldNeverPrintSecretsOfKafkaSettings() {
        KafkaSettings settings = KafkaSettings.fromProperties(Map.of("kafka.bootstrap.servers", "b:9093",
                "kafka.sasl.jaas.config", "org.apache.kafka.common.security.plain.PlainLoginModule required password=\"s3cret\";",
                "kafka.ssl.truststore.password", "hunter2", "kafka.security.protocol", "SASL_SSL"));

        assertThat(settings.toString()).doesNotContain("s3cret").doesNotContain("hunter2").contains("SASL_SSL");
        assertThat(settings.producer("p")).containsEntry("sasl.jaas.config",
                "org.apache.kafka.common.security.plain.PlainLoginModule required password=\"s3cret\";")
                .containsEntry("acks", "all").containsEntry("enable.idempotence", true);
    }
}
