package dev.omnicall.deploy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/** The env var rule the manifest tests rely on: catalogue keys, commented keys, Kafka pass-through. */
class ConfigCatalogueTest {

    @Test
    void shouldMapEnvironmentVariablesToCatalogueKeysTheQuarkusWay(@TempDir Path dir) throws IOException {
        // Given a catalogue with a default, a documented-only (commented) key and prose comments
        Path file = dir.resolve("application.properties");
        Files.writeString(file, """
                # Kafka. Leave kafka.bootstrap.servers unset to start the embedded broker.
                omnicall.rtp.port-min=20000
                #omnicall.sip.auth.username=
                quarkus.http.port=8080
                %test.omnicall.only-in-tests=1
                quarkus.log.category."org.apache.kafka".level=WARN
                """);
        ConfigCatalogue catalogue = ConfigCatalogue.load(file);

        // Then keys with and without a default count; profile-only and quoted keys do not
        assertThat(catalogue.keys()).containsExactlyInAnyOrder("omnicall.rtp.port-min", "omnicall.sip.auth.username", "quarkus.http.port");
        assertThat(catalogue.keyFor("OMNICALL_RTP_PORT_MIN")).contains("omnicall.rtp.port-min");
        assertThat(catalogue.problemWith("OMNICALL_SIP_AUTH_USERNAME")).isNull();
        assertThat(catalogue.problemWith("QUARKUS_HTTP_PORT")).isNull();
        // A misspelt key is reported
        assertThat(catalogue.problemWith("OMNICALL_RTP_PORTMIN")).contains("maps to no key");
        assertThat(catalogue.problemWith("OMNICALL_ONLY_IN_TESTS")).contains("maps to no key");
        // The JVM's own variables are not app keys, and only those two names pass
        assertThat(catalogue.problemWith("JDK_JAVA_OPTIONS")).isNull();
        assertThat(catalogue.problemWith("JAVA_TOOL_OPTIONS")).isNull();
        assertThat(catalogue.problemWith("JAVA_OPTS")).contains("maps to no key");
    }

    @Test
    void shouldPassThroughOnlyRealKafkaClientSettings() {
        assertThat(ConfigCatalogue.kafkaClientSetting("KAFKA_SASL_JAAS_CONFIG")).contains("sasl.jaas.config");
        assertThat(ConfigCatalogue.kafkaClientSetting("KAFKA_SSL_TRUSTSTORE_LOCATION")).contains("ssl.truststore.location");
        assertThat(ConfigCatalogue.kafkaClientSetting("KAFKA_BOOTSTRAP_SERVERS")).contains("bootstrap.servers");
        // A typo in a pass-through name would otherwise reach the clients as an ignored setting
        ConfigCatalogue catalogue = ConfigCatalogue.load(Locations.CONFIG_CATALOGUE);
        assertThat(catalogue.problemWith("KAFKA_SASL_JASS_CONFIG")).contains("'sasl.jass.config'").contains("no Kafka");
    }
}
