package dev.omnicall.model.tools;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.omnicall.model.io.DType;
import dev.omnicall.model.io.TensorInfo;
import dev.omnicall.model.io.TensorSource;
import java.nio.file.Path;
import java.util.Set;

/**
 * Weights of any name and shape made up on request by the engine's random generator (norm weights 1,
 * biases 0, matrices N(0, 1/fan_in)): lets the benchmark run a Llama-1B-shaped model without writing
 * gigabytes of checkpoint first.
 */
final class RandomWeights implements TensorSource {
    private final long seed;

    RandomWeights(long seed) {
        this.seed = seed;
    }

    @Override
    public Set<String> names() {
        return Set.of();
    }

    @Override
    public TensorInfo info(String name) {
        return null;
    }

    @Override
    public NDArray load(NDManager manager, String name, DataType target, long... shape) {
        Shape s = new Shape(shape);
        if (name.endsWith(".bias") || name.endsWith("positional_embedding")) {
            return manager.zeros(s, target);
        }
        if (shape.length == 1 || name.endsWith("weight_g")) {
            return manager.ones(s, target);
        }
        manager.getEngine().setRandomSeed((int) (seed ^ name.hashCode()));
        long fanIn = s.size() / shape[0];
        double std = name.contains("embed") || name.startsWith("dict") ? 1.0 : 1.0 / Math.sqrt(fanIn);
        NDArray drawn = manager.randomNormal(0f, (float) std, s, DataType.FLOAT32);
        if (target == DataType.FLOAT32) {
            return drawn;
        }
        // the float32 draw would otherwise stay on the device until the model closes (32 GB for an 8B model)
        NDArray out = drawn.toType(target, false);
        drawn.close();
        return out;
    }

    @Override
    public TensorInfo require(String name, long... expectedShape) {
        return new TensorInfo(name, DType.F32, expectedShape, Path.of("random"), 0, 4 * new Shape(expectedShape).size());
    }

    @Override
    public void close() {
        // nothing held
    }
}
