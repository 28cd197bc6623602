package dev.omnicall.model;

import dev.omnicall.model.omni.OmniModel;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;

import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Run by {@link TorchThreadsTest} in a fresh JVM (DJL's engine starts once per process): starts the engine one of
 * four ways, then prints {@code THREADS intra=N inter=M} as torch reports them on a new thread after a matrix
 * product there, as the worker's loop thread would see them.
 *
 * <ul>
 *   <li>{@code djl}: DJL's engine alone, nothing of ours (the control: DJL's default)</li>
 *   <li>{@code setting VALUE}: {@link TorchThreads#start} with {@code omnicall.worker.torch-threads=VALUE} on CPU</li>
 *   <li>{@code model DIR}: only {@link OmniModel#load} of the checkpoint in DIR on CPU</li>
 *   <li>{@code late}: DJL's engine first, then {@link TorchThreads#start} with {@code auto} on CPU</li>
 * </ul>
 */
public final class TorchThreadsProbe {

    public static void main(String[] args) throws Exception {
        TorchThreads.ensureOffline();
        switch (args[0]) {
            case "djl" -> Engine.getEngine("PyTorch");
            case "setting" -> TorchThreads.start(args[1], false);
            case "model" -> OmniModel.load(Path.of(args[1]), ModelOptions.defaults().withDevice("cpu")).close();
            case "late" -> {
                Engine.getEngine("PyTorch");
                TorchThreads.start(TorchThreads.AUTO, false);
            }
            default -> throw new IllegalArgumentException(args[0]);
        }
        AtomicReference<String> line = new AtomicReference<>();
        Thread t = new Thread(() -> {
            try (NDManager m = NDManager.newBaseManager(ai.djl.Device.cpu(), "PyTorch")) {
                NDArray a = m.randomNormal(new ai.djl.ndarray.types.Shape(256, 256));
                a.matMul(a).sum().getFloat();
                line.set("THREADS intra=" + JniUtils.getNumThreads() + " inter=" + JniUtils.getNumInteropThreads());
            }
        }, "probe-worker-loop");
        t.start();
        t.join();
        System.out.println(line.get());
    }
}
