package dev.omnicall.model;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Which published system a checkpoint directory holds, read from its config.json {@code model_type}:
 * {@code omni_speech2s_llama} (LLaMA-Omni: Llama-3.1, CTC units, CodeHiFiGAN, 16 kHz) or
 * {@code omni2_speech2s_qwen2} (LLaMA-Omni2: Qwen2.5, TTS LM, flow matching, HiFT, 24 kHz). Any other value,
 * or none, is one error naming the field, the value found and the two known values.
 */
public enum ModelFamily {
    LLAMA_OMNI("omni_speech2s_llama"),
    LLAMA_OMNI2("omni2_speech2s_qwen2");

    /** The config.json field that names the family. */
    public static final String FIELD = "model_type";

    private final String modelType;

    ModelFamily(String modelType) {
        this.modelType = modelType;
    }

    /** config.json's {@code model_type} value of this family. */
    public String modelType() {
        return modelType;
    }

    /** The family of a {@code model_type} value (null: the field is absent). */
    public static ModelFamily of(String modelType) {
        for (ModelFamily f : values()) {
            if (f.modelType.equals(modelType)) {
                return f;
            }
        }
        String found = modelType == null ? "no " + FIELD + " at all" : FIELD + " '" + modelType + "'";
        throw new IllegalArgumentException("config.json " + FIELD + " must be '" + LLAMA_OMNI.modelType
                + "' (LLaMA-Omni) or '" + LLAMA_OMNI2.modelType + "' (LLaMA-Omni2), found " + found);
    }

    /** Reads {@code dir/config.json} and returns its family. */
    public static ModelFamily of(Path checkpointDir) {
        Path file = checkpointDir.resolve("config.json");
        JsonElement root;
        try {
            root = JsonParser.parseString(Files.readString(file));
        } catch (IOException | JsonParseException e) {
            throw new IllegalArgumentException("cannot read " + file + " to learn the model family from its "
                    + FIELD + ": " + e.getMessage(), e);
        }
        if (!root.isJsonObject()) {
            throw new IllegalArgumentException(file + " is not a JSON object, so it has no " + FIELD);
        }
        JsonElement type = ((JsonObject) root).get(FIELD);
        String value = type == null || type.isJsonNull() ? null
                : type.isJsonPrimitive() ? type.getAsString() : type.toString();
        try {
            return of(value);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
        }
    }
}
