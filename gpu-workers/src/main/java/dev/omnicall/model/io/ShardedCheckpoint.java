package dev.omnicall.model.io;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The Hugging Face weight layout: {@code model.safetensors.index.json} whose {@code weight_map} names
 * the shard of every tensor, or a single {@code model.safetensors}. Shards are opened once; each tensor
 * is mapped from its shard when loaded.
 */
public final class ShardedCheckpoint implements TensorSource {
    public static final String INDEX_FILE = "model.safetensors.index.json";
    public static final String SINGLE_FILE = "model.safetensors";

    private final Map<String, SafeTensorsFile> shardOf;
    private final List<SafeTensorsFile> shards;

    private ShardedCheckpoint(Map<String, SafeTensorsFile> shardOf, List<SafeTensorsFile> shards) {
        this.shardOf = shardOf;
        this.shards = shards;
    }

    public static ShardedCheckpoint open(Path dir) {
        Path index = dir.resolve(INDEX_FILE);
        Path single = dir.resolve(SINGLE_FILE);
        if (Files.isRegularFile(index)) {
            return openIndexed(dir, index);
        }
        if (Files.isRegularFile(single)) {
            SafeTensorsFile file = SafeTensorsFile.open(single);
            Map<String, SafeTensorsFile> map = new LinkedHashMap<>();
            file.names().forEach(n -> map.put(n, file));
            return new ShardedCheckpoint(map, List.of(file));
        }
        throw new CheckpointException("no " + INDEX_FILE + " or " + SINGLE_FILE + " in " + dir);
    }

    private static ShardedCheckpoint openIndexed(Path dir, Path index) {
        JsonObject weightMap;
        try {
            JsonObject root = JsonParser.parseString(Files.readString(index)).getAsJsonObject();
            if (!root.has("weight_map")) {
                throw new CheckpointException(index + " has no weight_map");
            }
            weightMap = root.getAsJsonObject("weight_map");
        } catch (IOException | IllegalStateException | com.google.gson.JsonParseException e) {
            throw new CheckpointException("cannot read " + index + ": " + e.getMessage(), e);
        }
        Map<String, SafeTensorsFile> byFileName = new LinkedHashMap<>();
        Map<String, SafeTensorsFile> shardOf = new LinkedHashMap<>();
        try {
            for (Map.Entry<String, JsonElement> e : weightMap.entrySet()) {
                String fileName = e.getValue().getAsString();
                SafeTensorsFile shard = byFileName.get(fileName);
                if (shard == null) {
                    Path shardPath = dir.resolve(fileName);
                    if (!Files.isRegularFile(shardPath)) {
                        throw new CheckpointException(INDEX_FILE + " puts tensor " + e.getKey() + " in " + fileName
                                + " but that file does not exist in " + dir);
                    }
                    shard = SafeTensorsFile.open(shardPath);
                    byFileName.put(fileName, shard);
                }
                if (shard.info(e.getKey()) == null) {
                    throw new CheckpointException(INDEX_FILE + " puts tensor " + e.getKey() + " in " + fileName
                            + " but that shard has no such tensor");
                }
                shardOf.put(e.getKey(), shard);
            }
        } catch (RuntimeException e) {
            byFileName.values().forEach(SafeTensorsFile::close);
            throw e;
        }
        return new ShardedCheckpoint(Collections.unmodifiableMap(shardOf), new ArrayList<>(byFileName.values()));
    }

    public int shardCount() {
        return shards.size();
    }

    @Override
    public Set<String> names() {
        return shardOf.keySet();
    }

    @Override
    public TensorInfo info(String name) {
        SafeTensorsFile shard = shardOf.get(name);
        return shard == null ? null : shard.info(name);
    }

    @Override
    public NDArray load(NDManager manager, String name, DataType target, long... expectedShape) {
        TensorInfo info = require(name, expectedShape);
        return shardOf.get(name).read(manager, info, target);
    }

    @Override
    public void close() {
        shards.forEach(SafeTensorsFile::close);
    }
}
