package dev.omnicall.kafka;

import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;

import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * Which value serde the deployment uses. All kinds write the Confluent wire format (magic 0 + 4-byte
 * schema id), so records stay readable when a deployment moves from one kind to another once the
 * registry holds the same schemas.
 *
 * <ul>
 *   <li>{@link Kind#EMBEDDED}: ids from the {@link SchemaCatalog} in this jar; no registry server. The default.</li>
 *   <li>{@link Kind#APICURIO}: Apicurio Registry 3 serdes (on Maven Central), auto-registering schemas and
 *       writing the 4-byte content id without Kafka headers.</li>
 *   <li>{@link Kind#CONFLUENT}: Confluent's {@code SpecificAvroSerde}, a drop-in where Confluent's Maven
 *       repository is reachable (it is not on Maven Central, so it is loaded by name and not shipped).</li>
 * </ul>
 *
 * @param registryProperties extra serde properties passed through unchanged ({@code apicurio.registry.*},
 *                           {@code schema.registry.*}, {@code basic.auth.*})
 */
public record SerdeConfig(Kind kind, String registryUrl, Map<String, Object> registryProperties) {

    public enum Kind { EMBEDDED, APICURIO, CONFLUENT }

    public static final String KIND = "omnicall.serde.kind";
    public static final String REGISTRY_URL = "omnicall.serde.registry-url";

    public SerdeConfig {
        Objects.requireNonNull(kind, "kind");
        registryProperties = Map.copyOf(registryProperties == null ? Map.of() : registryProperties);
        if (kind != Kind.EMBEDDED && (registryUrl == null || registryUrl.isBlank())) {
            throw new IllegalArgumentException("serde kind " + kind + " needs " + REGISTRY_URL);
        }
    }

    public static SerdeConfig embedded() {
        return new SerdeConfig(Kind.EMBEDDED, null, Map.of());
    }

    /** Reads {@value #KIND}, {@value #REGISTRY_URL} and passes through registry-specific keys. */
    public static SerdeConfig fromProperties(Map<String, ?> props) {
        Object configured = props.get(KIND);
        String kind = String.valueOf(configured == null ? "embedded" : configured).trim().toUpperCase(Locale.ROOT);
        Kind k;
        try {
            k = Kind.valueOf(kind);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(KIND + "=" + props.get(KIND) + " is not one of embedded, apicurio, confluent");
        }
        Map<String, Object> pass = new HashMap<>();
        props.forEach((key, v) -> {
            if (key.startsWith("apicurio.registry.") || key.startsWith("schema.registry.") || key.startsWith("basic.auth.")) {
                pass.put(key, v);
            }
        });
        Object url = props.get(REGISTRY_URL);
        return new SerdeConfig(k, url == null ? null : url.toString(), pass);
    }

    /** A value serde for {@code type}, configured for this deployment. */
    public <V extends SpecificRecord> Serde<V> valueSerde(Class<V> type) {
        return switch (kind) {
            case EMBEDDED -> new CatalogAvroSerde<>(type, SchemaCatalog.bundled());
            case APICURIO -> apicurio(type);
            case CONFLUENT -> confluent();
        };
    }

    /** The properties handed to the Apicurio serializer and deserializer. */
    public Map<String, Object> apicurioProperties() {
        Map<String, Object> p = new HashMap<>();
        p.put("apicurio.registry.url", registryUrl);
        p.put("apicurio.registry.auto-register", "true");
        p.put("apicurio.registry.find-latest", "true");
        // Confluent framing: ids in the payload, not in Kafka headers; a 4-byte content id.
        p.put("apicurio.registry.headers.enabled", "false");
        p.put("apicurio.registry.id-handler", "io.apicurio.registry.serde.Default4ByteIdHandler");
        p.put("apicurio.registry.use-id", "contentId");
        p.put("apicurio.registry.use-specific-avro-reader", "true");
        p.putAll(registryProperties);
        return p;
    }

    @SuppressWarnings("unchecked")
    private <V extends SpecificRecord> Serde<V> apicurio(Class<V> type) {
        Serializer<V> ser = (Serializer<V>) instantiate("io.apicurio.registry.serde.avro.AvroKafkaSerializer");
        Deserializer<V> de = (Deserializer<V>) instantiate("io.apicurio.registry.serde.avro.AvroKafkaDeserializer");
        Map<String, Object> p = apicurioProperties();
        p.put("apicurio.registry.deserializer.value.return-class", type.getName());
        ser.configure(p, false);
        de.configure(p, false);
        return Serdes.serdeFrom(ser, de);
    }

    @SuppressWarnings("unchecked")
    private <V extends SpecificRecord> Serde<V> confluent() {
        Serde<V> serde = (Serde<V>) instantiate("io.confluent.kafka.streams.serdes.avro.SpecificAvroSerde");
        Map<String, Object> p = new HashMap<>(registryProperties);
        p.put("schema.registry.url", registryUrl);
        serde.configure(p, false);
        return serde;
    }

    private static Object instantiate(String className) {
        try {
            return Class.forName(className).getDeclaredConstructor().newInstance();
        } catch (ClassNotFoundException e) {
            throw new IllegalStateException("serde class " + className + " is not on the classpath; add its jar"
                    + " (see schemas/README.md) or set " + KIND + "=embedded", e);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot create " + className + ": " + e, e);
        }
    }
}
