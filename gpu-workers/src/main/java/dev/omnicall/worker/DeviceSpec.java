package dev.omnicall.worker;

import java.util.Locale;
import java.util.Objects;

/**
 * Where a worker runs its model: {@code cpu} or {@code gpu:N}. One worker process per GPU; in Kubernetes a
 * pod gets one GPU ({@code nvidia.com/gpu: 1}), sees it as index 0 and runs with {@code gpu:0}.
 *
 * @param gpuIndex -1 for the CPU, else the CUDA device index
 */
public record DeviceSpec(int gpuIndex) {

    public static final DeviceSpec CPU = new DeviceSpec(-1);

    public DeviceSpec {
        if (gpuIndex < -1) {
            throw new IllegalArgumentException("gpu index must be >= 0 (or -1 for cpu), got " + gpuIndex);
        }
    }

    /** Parses {@code cpu}, {@code gpu:N} (also {@code gpu} = {@code gpu:0} and {@code cuda:N}). */
    public static DeviceSpec parse(String text) {
        Objects.requireNonNull(text, "device");
        String s = text.trim().toLowerCase(Locale.ROOT);
        if (s.equals("cpu")) {
            return CPU;
        }
        if (s.equals("gpu") || s.equals("cuda")) {
            return new DeviceSpec(0);
        }
        for (String prefix : new String[]{"gpu:", "cuda:"}) {
            if (s.startsWith(prefix)) {
                try {
                    return new DeviceSpec(Integer.parseInt(s.substring(prefix.length())));
                } catch (IllegalArgumentException e) {
                    break;
                }
            }
        }
        throw new IllegalArgumentException("device '" + text + "' is not cpu or gpu:N (N = 0, 1, ...)");
    }

    public boolean isGpu() {
        return gpuIndex >= 0;
    }

    /** The DJL device. */
    public ai.djl.Device toDjl() {
        return isGpu() ? ai.djl.Device.gpu(gpuIndex) : ai.djl.Device.cpu();
    }

    @Override
    public String toString() {
        return isGpu() ? "gpu:" + gpuIndex : "cpu";
    }
}
