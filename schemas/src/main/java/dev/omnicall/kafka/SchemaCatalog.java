package dev.omnicall.kafka;

import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.TreeMap;

/**
 * The schema ids of the registry-less serde: every released version of every event schema, shipped in
 * this jar, numbered for good. A record on the wire names its writer schema by one of these ids (the
 * Confluent layout: magic byte 0, 4-byte id), so a consumer built later still reads it.
 *
 * <p>Evolution rule: a schema change must be backward compatible (the new schema reads every released
 * version). Releasing it means adding {@code released/Name/vN.avsc} and a new id line to
 * {@code catalog.properties}; ids are never reused or renumbered. {@code SchemaEvolutionTest} enforces both.
 */
public final class SchemaCatalog {

    static final String ROOT = "/dev/omnicall/schemas/";

    /** One released schema version. */
    public record Entry(int id, String recordName, int version, Schema schema) {
    }

    private static volatile SchemaCatalog bundled;

    private final Map<Integer, Entry> byId;
    private final Map<Long, Entry> byFingerprint;

    private SchemaCatalog(List<Entry> entries) {
        Map<Integer, Entry> ids = new TreeMap<>();
        Map<Long, Entry> prints = new HashMap<>();
        for (Entry e : entries) {
            if (ids.put(e.id(), e) != null) {
                throw new IllegalStateException("schema id " + e.id() + " is listed twice in the catalog");
            }
            Entry clash = prints.put(SchemaNormalization.parsingFingerprint64(e.schema()), e);
            if (clash != null) {
                throw new IllegalStateException("schema ids " + clash.id() + " and " + e.id()
                        + " hold the same schema; a release must change the schema");
            }
        }
        this.byId = Collections.unmodifiableMap(ids);
        this.byFingerprint = Collections.unmodifiableMap(prints);
    }

    /** A catalog of the given entries (tests, tools); ids and schemas must be unique. */
    public static SchemaCatalog of(List<Entry> entries) {
        return new SchemaCatalog(entries);
    }

    /** The catalog shipped in this jar. */
    public static SchemaCatalog bundled() {
        SchemaCatalog c = bundled;
        if (c == null) {
            synchronized (SchemaCatalog.class) {
                c = bundled;
                if (c == null) {
                    c = bundled = loadFromClasspath();
                }
            }
        }
        return c;
    }

    private static SchemaCatalog loadFromClasspath() {
        Properties index = new Properties();
        try (InputStream in = SchemaCatalog.class.getResourceAsStream(ROOT + "catalog.properties")) {
            if (in == null) {
                throw new IllegalStateException("schema catalog " + ROOT + "catalog.properties is missing from the classpath");
            }
            index.load(in);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        List<Entry> entries = new ArrayList<>();
        for (String key : index.stringPropertyNames()) {
            int id = Integer.parseInt(key.trim());
            String ref = index.getProperty(key).trim();            // e.g. CallEvent/v1
            int slash = ref.indexOf("/v");
            if (slash < 0) {
                throw new IllegalStateException("catalog entry " + key + "=" + ref + " is not Name/vN");
            }
            String name = ref.substring(0, slash);
            int version = Integer.parseInt(ref.substring(slash + 2));
            try (InputStream in = SchemaCatalog.class.getResourceAsStream(ROOT + "released/" + ref + ".avsc")) {
                if (in == null) {
                    throw new IllegalStateException("catalog id " + id + " names released/" + ref + ".avsc, which is missing");
                }
                Schema schema = new Schema.Parser().parse(in);
                entries.add(new Entry(id, name, version, schema));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return new SchemaCatalog(entries);
    }

    public Entry byId(int id) {
        return byId.get(id);
    }

    /** The id of exactly this schema (by Avro parsing fingerprint), or -1 if it was never released. */
    public int idOf(Schema schema) {
        Entry e = byFingerprint.get(SchemaNormalization.parsingFingerprint64(Objects.requireNonNull(schema)));
        return e == null ? -1 : e.id();
    }

    /** Released versions of one record, oldest first. */
    public List<Entry> versionsOf(String recordName) {
        return byId.values().stream().filter(e -> e.recordName().equals(recordName))
                .sorted((a, b) -> Integer.compare(a.version(), b.version())).toList();
    }

    public List<Entry> entries() {
        return List.copyOf(byId.values());
    }
}
