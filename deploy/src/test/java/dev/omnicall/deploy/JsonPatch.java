package dev.omnicall.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ContainerNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.ArrayList;
import java.util.List;

/**
 * The RFC 6902 operations the overlays use (add, remove, replace, test), applied in place to a Jackson
 * tree. Paths are RFC 6901 JSON pointers ({@code ~1} is '/', {@code ~0} is '~'); "-" appends to an array.
 * A failed {@code test} or a path that does not exist is an error that names the operation, as kustomize
 * does, so a patch written against the wrong list index cannot apply silently.
 */
final class JsonPatch {

    private JsonPatch() {
    }

    /** Applies every operation of {@code ops} (a JSON array of operation objects) to {@code target}. */
    static void apply(JsonNode ops, ObjectNode target, String patchName) {
        if (!ops.isArray()) {
            throw new KustomizeException(patchName + ": a JSON 6902 patch is a list of operations");
        }
        int index = 0;
        for (JsonNode op : ops) {
            String name = op.path("op").asText("");
            String path = op.path("path").asText(null);
            if (path == null) {
                throw new KustomizeException(patchName + " op #" + index + ": no path");
            }
            String where = patchName + " op #" + index + " (" + name + " " + path + ")";
            switch (name) {
                case "add" -> add(target, path, requireValue(op, where), where);
                case "replace" -> replace(target, path, requireValue(op, where), where);
                case "remove" -> remove(target, path, where);
                case "test" -> test(target, path, requireValue(op, where), where);
                default -> throw new KustomizeException(where + ": unsupported operation '" + name + "'");
            }
            index++;
        }
    }

    private static JsonNode requireValue(JsonNode op, String where) {
        if (!op.has("value")) {
            throw new KustomizeException(where + ": no value");
        }
        return op.get("value").deepCopy();
    }

    private static void add(ObjectNode root, String path, JsonNode value, String where) {
        Location at = locate(root, path, where);
        if (at.parent instanceof ObjectNode object) {
            object.set(at.token, value);
        } else {
            ArrayNode array = (ArrayNode) at.parent;
            if (at.token.equals("-")) {
                array.add(value);
            } else {
                int i = arrayIndex(at.token, array.size() + 1, where);
                array.insert(i, value);
            }
        }
    }

    private static void replace(ObjectNode root, String path, JsonNode value, String where) {
        Location at = locate(root, path, where);
        if (at.parent instanceof ObjectNode object) {
            if (!object.has(at.token)) {
                throw new KustomizeException(where + ": nothing to replace at " + path);
            }
            object.set(at.token, value);
        } else {
            ArrayNode array = (ArrayNode) at.parent;
            array.set(arrayIndex(at.token, array.size(), where), value);
        }
    }

    private static void remove(ObjectNode root, String path, String where) {
        Location at = locate(root, path, where);
        if (at.parent instanceof ObjectNode object) {
            if (object.remove(at.token) == null) {
                throw new KustomizeException(where + ": nothing to remove at " + path);
            }
        } else {
            ArrayNode array = (ArrayNode) at.parent;
            array.remove(arrayIndex(at.token, array.size(), where));
        }
    }

    private static void test(ObjectNode root, String path, JsonNode expected, String where) {
        Location at = locate(root, path, where);
        JsonNode actual = at.parent instanceof ObjectNode object
                ? object.get(at.token)
                : ((ArrayNode) at.parent).get(arrayIndex(at.token, at.parent.size(), where));
        if (actual == null || !actual.equals(expected)) {
            throw new KustomizeException(where + ": test failed, expected " + expected + " but found " + actual);
        }
    }

    private record Location(ContainerNode<?> parent, String token) {
    }

    /** Walks to the parent of the last token; every step on the way must exist. */
    private static Location locate(ObjectNode root, String path, String where) {
        if (!path.startsWith("/")) {
            throw new KustomizeException(where + ": a JSON pointer starts with '/'");
        }
        List<String> tokens = new ArrayList<>();
        for (String raw : path.substring(1).split("/", -1)) {
            tokens.add(raw.replace("~1", "/").replace("~0", "~"));
        }
        JsonNode node = root;
        for (int i = 0; i < tokens.size() - 1; i++) {
            String token = tokens.get(i);
            JsonNode next = node.isArray() ? node.get(arrayIndex(token, node.size(), where)) : node.get(token);
            if (next == null || !next.isContainerNode()) {
                throw new KustomizeException(where + ": path element '" + token + "' does not exist");
            }
            node = next;
        }
        return new Location((ContainerNode<?>) node, tokens.get(tokens.size() - 1));
    }

    private static int arrayIndex(String token, int limit, String where) {
        try {
            int i = Integer.parseInt(token);
            if (i < 0 || i >= limit) {
                throw new KustomizeException(where + ": index " + i + " out of range (size " + limit + ")");
            }
            return i;
        } catch (NumberFormatException e) {
            throw new KustomizeException(where + ": '" + token + "' is not an array index");
        }
    }
}
