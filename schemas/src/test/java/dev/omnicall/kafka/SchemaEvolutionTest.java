package dev.omnicall.kafka;

import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.SchemaCompatibility.SchemaCompatibilityType;
import org.apache.avro.specific.SpecificData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.List;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The evolution rule: every schema change is backward compatible, so a consumer with the newest classes
 * reads every record any released producer wrote; and every schema the code writes is released.
 */
class SchemaEvolutionTest {

    static Stream<Topic<?>> topics() {
        return Topics.all().stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("topics")
    void shouldHaveReleasedTheSchemaTheCodeWrites(Topic<?> topic) {
        Schema current = SpecificData.get().getSchema(topic.valueType());

        assertThat(SchemaCatalog.bundled().idOf(current))
                .as("%s: the generated schema must be released in the catalog (add released/%s/vN.avsc)",
                        topic.valueType().getSimpleName(), topic.valueType().getSimpleName())
                .isPositive();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("topics")
    void shouldReadEveryReleasedVersionWithTheCurrentSchema(Topic<?> topic) {
        Schema current = SpecificData.get().getSchema(topic.valueType());
        List<SchemaCatalog.Entry> released = SchemaCatalog.bundled().versionsOf(topic.valueType().getSimpleName());
        assertThat(released).isNotEmpty();

        for (SchemaCatalog.Entry writer : released) {
            var result = SchemaCompatibility.checkReaderWriterCompatibility(current, writer.schema());
            assertThat(result.getType())
                    .as("current %s reading v%d: %s", writer.recordName(), writer.version(), result.getDescription())
                    .isEqualTo(SchemaCompatibilityType.COMPATIBLE);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("topics")
    void shouldKeepEachReleasedVersionBackwardCompatibleWithItsPredecessor(Topic<?> topic) {
        List<SchemaCatalog.Entry> released = SchemaCatalog.bundled().versionsOf(topic.valueType().getSimpleName());
        for (int i = 1; i < released.size(); i++) {
            var result = SchemaCompatibility.checkReaderWriterCompatibility(
                    released.get(i).schema(), released.get(i - 1).schema());
            assertThat(result.getType()).as(result.getDescription()).isEqualTo(SchemaCompatibilityType.COMPATIBLE);
        }
    }

    @Test
    void shouldRejectARequiredFieldAddedWithoutADefault() {
        // Given the released AudioSegment and a change that adds a field with no default
        Schema released = SchemaCatalog.bundled().versionsOf("AudioSegment").get(0).schema();
        String json = released.toString().replace("\"fields\":[", "\"fields\":[{\"name\":\"channel\",\"type\":\"int\"},");
        Schema changed = new Schema.Parser().parse(json);

        // When the check runs, Then the change is refused: old records have no channel
        assertThat(SchemaCompatibility.checkReaderWriterCompatibility(changed, released).getType())
                .isEqualTo(SchemaCompatibilityType.INCOMPATIBLE);
    }

    @Test
    void shouldNumberEveryReleasedSchemaOnce() {
        var entries = SchemaCatalog.bundled().entries();

        assertThat(entries).extracting(SchemaCatalog.Entry::id).doesNotHaveDuplicates();
        assertThat(entries).hasSizeGreaterThanOrEqualTo(Topics.all().size());
    }
}
