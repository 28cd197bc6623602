package dev.omnicall.model.io;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.Set;

/**
 * Two weight sources seen as one: names that start with {@code prefix} come from {@code prefixed} (and
 * only from it, so a missing one is reported by that source, naming its file), all others from
 * {@code rest}. Closing closes neither: their owners close them.
 */
public final class PrefixRoutedSource implements TensorSource {
    private final TensorSource rest;
    private final String prefix;
    private final TensorSource prefixed;
    private final Set<String> names;

    public PrefixRoutedSource(TensorSource rest, String prefix, TensorSource prefixed) {
        this.rest = rest;
        this.prefix = prefix;
        this.prefixed = prefixed;
        Set<String> all = new LinkedHashSet<>();
        rest.names().stream().filter(n -> !n.startsWith(prefix)).forEach(all::add);
        prefixed.names().stream().filter(n -> n.startsWith(prefix)).forEach(all::add);
        this.names = Collections.unmodifiableSet(all);
    }

    private TensorSource sourceOf(String name) {
        return name.startsWith(prefix) ? prefixed : rest;
    }

    @Override
    public Set<String> names() {
        return names;
    }

    @Override
    public TensorInfo info(String name) {
        return sourceOf(name).info(name);
    }

    @Override
    public NDArray load(NDManager manager, String name, DataType target, long... expectedShape) {
        return sourceOf(name).load(manager, name, target, expectedShape);
    }

    @Override
    public void close() {
        // the owners close rest and prefixed
    }
}
