package dev.omnicall.model.config;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonParseException;
import com.google.gson.TypeAdapter;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import com.google.gson.stream.JsonWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Reads and writes the checkpoint's JSON configs; field names come from {@code @SerializedName}. */
public final class Json {
    private static final Gson GSON = new GsonBuilder().setPrettyPrinting().disableHtmlEscaping()
            .serializeSpecialFloatingPointValues().create();

    private Json() {
    }

    public static <T> T read(Path file, Class<T> type) {
        try {
            T value = GSON.fromJson(Files.readString(file), type);
            if (value == null) {
                throw new IllegalArgumentException(file + " is empty");
            }
            return value;
        } catch (IOException | JsonParseException e) {
            throw new IllegalArgumentException("cannot read " + file + ": " + e.getMessage(), e);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
        }
    }

    public static <T> T parse(String json, Class<T> type) {
        return GSON.fromJson(json, type);
    }

    public static String write(Object value) {
        return GSON.toJson(value);
    }

    /** {@code eos_token_id} is an int in some configs and a list in others; both read as a list. */
    public static final class IntOrList extends TypeAdapter<List<Integer>> {
        @Override
        public void write(JsonWriter out, List<Integer> value) throws IOException {
            if (value == null) {
                out.nullValue();
                return;
            }
            out.beginArray();
            for (Integer v : value) {
                out.value(v);
            }
            out.endArray();
        }

        @Override
        public List<Integer> read(JsonReader in) throws IOException {
            if (in.peek() == JsonToken.NULL) {
                in.nextNull();
                return List.of();
            }
            if (in.peek() == JsonToken.NUMBER) {
                return List.of(in.nextInt());
            }
            List<Integer> values = new ArrayList<>();
            in.beginArray();
            while (in.hasNext()) {
                values.add(in.nextInt());
            }
            in.endArray();
            return List.copyOf(values);
        }
    }
}
