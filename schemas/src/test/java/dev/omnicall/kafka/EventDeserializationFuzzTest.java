package dev.omnicall.kafka;

import com.code_intelligence.jazzer.junit.FuzzTest;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Fuzzes the path every consumer takes with bytes from a topic: the registry-less Avro deserializer of
 * every topic. The first input byte picks the topic, the rest is the record. Whatever the bytes, the result
 * is a record or a {@link SerializationException} with a message, never another exception, a hang or an
 * allocation the record cannot back. Under plain {@code mvn test} the seeds (one valid record per topic, in
 * {@code EventDeserializationFuzzTestInputs/}) are replayed; {@code JAZZER_FUZZ=1} fuzzes.
 */
class EventDeserializationFuzzTest {

    private static final List<Topic<?>> TOPICS = Topics.all();
    private static final List<Deserializer<?>> DESERIALIZERS = TOPICS.stream()
            .<Deserializer<?>>map(t -> t.valueSerde(SerdeConfig.embedded()).deserializer()).toList();

    @FuzzTest(maxDuration = "20s")
    void deserializeEveryTopic(byte[] input) {
        if (input.length == 0) {
            return;
        }
        int which = Byte.toUnsignedInt(input[0]) % TOPICS.size();
        byte[] record = Arrays.copyOfRange(input, 1, input.length);
        try {
            Object value = DESERIALIZERS.get(which).deserialize(TOPICS.get(which).name(), record);
            assertThat(value).isInstanceOf(TOPICS.get(which).valueType());
        } catch (SerializationException e) {
            assertThat(e.getMessage()).isNotBlank();
        }
    }

    @Test
    void shouldShipOneValidSeedPerTopic() throws IOException {
        Path dir = Path.of("src/test/resources/dev/omnicall/kafka/EventDeserializationFuzzTestInputs/deserializeEveryTopic");
        List<SpecificRecord> samples = List.of(SampleEvents.callStarted("seed-call"), SampleEvents.segment("seed-call", 0, 0, true),
                SampleEvents.turnRequest("seed-call"), SampleEvents.textDelta("seed-call"), SampleEvents.audioChunk("seed-call"),
                SampleEvents.transcript("seed-call"), SampleEvents.turnMetrics("seed-call"), SampleEvents.deadLetter(),
                SampleEvents.callerText("seed-call"));
        for (SpecificRecord sample : samples) {
            int which = indexOf(sample.getClass());
            Path seed = dir.resolve(TOPICS.get(which).name() + ".bin");
            assertThat(seed).as("seed for " + TOPICS.get(which).name()).exists();
            byte[] bytes = Files.readAllBytes(seed);
            assertThat(Byte.toUnsignedInt(bytes[0]) % TOPICS.size()).isEqualTo(which);
            // the seed decodes: the fuzzer starts from valid records
            deserializeEveryTopic(bytes);
        }
    }

    private static int indexOf(Class<?> type) {
        for (int i = 0; i < TOPICS.size(); i++) {
            if (TOPICS.get(i).valueType().equals(type)) {
                return i;
            }
        }
        throw new IllegalArgumentException(type.getName());
    }

    /** Writes the seed files: {@code java ... EventDeserializationFuzzTest <dir>} (run once; output is committed). */
    public static void main(String[] args) throws IOException {
        Path dir = Files.createDirectories(Path.of(args[0]));
        List<SpecificRecord> samples = List.of(SampleEvents.callStarted("seed-call"), SampleEvents.segment("seed-call", 0, 0, true),
                SampleEvents.turnRequest("seed-call"), SampleEvents.textDelta("seed-call"), SampleEvents.audioChunk("seed-call"),
                SampleEvents.transcript("seed-call"), SampleEvents.turnMetrics("seed-call"), SampleEvents.deadLetter(),
                SampleEvents.callerText("seed-call"));
        for (SpecificRecord s : samples) {
            int which = indexOf(s.getClass());
            @SuppressWarnings({"unchecked", "rawtypes"})
            byte[] body = ((Topic) TOPICS.get(which)).valueSerde(SerdeConfig.embedded()).serializer().serialize("seed", s);
            byte[] out = new byte[body.length + 1];
            out[0] = (byte) which;
            System.arraycopy(body, 0, out, 1, body.length);
            Files.write(dir.resolve(TOPICS.get(which).name() + ".bin"), out);
        }
    }
}
