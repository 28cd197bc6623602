package dev.omnicall.model;

import ai.djl.engine.Engine;
import ai.djl.pytorch.jni.JniUtils;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Properties;

/**
 * How many threads torch runs its operators on, fixed before DJL's PyTorch engine starts (DJL reads
 * {@value #DJL_INTRA} and {@value #DJL_INTEROP} once, at engine start).
 *
 * <p>The setting {@value #KEY}: {@code auto} (the default) is one intra-op and one inter-op thread on a CPU device
 * and DJL's own default (one per core) on a GPU; a number N is N intra-op threads and one inter-op thread on
 * either. A {@code -Dai.djl.pytorch.num_threads} / {@code num_interop_threads} given to the JVM wins over both.
 * Why one on CPU: the worker shares the cores with the bridge, streams and Kafka threads (all roles in one JVM in
 * the zero-setup run), and torch's OpenMP threads spin-wait for each other on busy cores. PipelineBenchmark K=10,
 * session 5: first audio p50 1.4-1.5 s with one thread, 3.6-4.4 s with DJL's default on 2 cores.
 *
 * <p>{@link #start} is the one way the worker starts the engine (the worker's start and each family's model load,
 * {@code OmniModel} and {@code Omni2Model}, call it); the first call decides and logs one line with the counts torch
 * reports back.
 */
public final class TorchThreads {

    private static final Logger LOG = LoggerFactory.getLogger(TorchThreads.class);

    public static final String KEY = "omnicall.worker.torch-threads";
    public static final String AUTO = "auto";
    public static final String DJL_INTRA = "ai.djl.pytorch.num_threads";
    public static final String DJL_INTEROP = "ai.djl.pytorch.num_interop_threads";
    /** Leave the count to DJL / torch (one per core). */
    public static final int DJL_DEFAULT = -1;

    private static Started started;

    private TorchThreads() {
    }

    /**
     * What the setting asks for.
     *
     * @param intraOp thread count for one operator, or {@link #DJL_DEFAULT}
     * @param interOp threads running independent operators, or {@link #DJL_DEFAULT}
     * @param source  where the counts come from, in words, for the start-up line
     */
    public record Plan(int intraOp, int interOp, String source) {
    }

    /** The counts torch reports once its engine runs, with the plan that asked for them. */
    public record Started(Plan plan, int intraOp, int interOp) {
    }

    /**
     * Resolves the setting: a JVM property DJL reads wins, then a number, then {@code auto} by device.
     *
     * @param setting {@value #KEY}'s value; null or blank is {@code auto}
     * @param gpu     whether the model runs on a GPU
     * @param system  the JVM's system properties (the JVM's own, or a test's)
     * @throws IllegalArgumentException naming the key when a value is not {@code auto} or a count &gt;= 1
     */
    public static Plan resolve(String setting, boolean gpu, Properties system) {
        String s = setting == null || setting.isBlank() ? AUTO : setting.trim();
        int intra;
        int inter;
        String source;
        if (s.equalsIgnoreCase(AUTO)) {
            intra = gpu ? DJL_DEFAULT : 1;
            inter = gpu ? DJL_DEFAULT : 1;
            source = KEY + "=auto on " + (gpu ? "a GPU" : "CPU");
        } else {
            intra = count(KEY, s);
            inter = 1;
            source = KEY + "=" + intra;
        }
        String jvmIntra = system.getProperty(DJL_INTRA);
        String jvmInter = system.getProperty(DJL_INTEROP);
        if (jvmIntra != null) {
            intra = count("-D" + DJL_INTRA, jvmIntra.trim());
        }
        if (jvmInter != null) {
            inter = count("-D" + DJL_INTEROP, jvmInter.trim());
        }
        if (jvmIntra != null || jvmInter != null) {
            source = source + ", overridden by the JVM's -D" + (jvmIntra != null ? DJL_INTRA + "=" + intra : "")
                    + (jvmIntra != null && jvmInter != null ? " -D" : "")
                    + (jvmInter != null ? DJL_INTEROP + "=" + inter : "");
        }
        return new Plan(intra, inter, source);
    }

    private static int count(String key, String value) {
        try {
            int n = Integer.parseInt(value);
            if (n >= 1) {
                return n;
            }
        } catch (NumberFormatException e) {
            // the message below says what is accepted
        }
        throw new IllegalArgumentException(key + " must be " + (key.equals(KEY) ? "auto or " : "")
                + "a thread count >= 1, got '" + value + "'");
    }

    /**
     * DJL must never download: the libtorch natives come from the classpath jar. Called before the
     * engine first loads.
     */
    public static void ensureOffline() {
        if (System.getProperty("ai.djl.offline") == null) {
            System.setProperty("ai.djl.offline", "true");
        }
    }

    /**
     * Starts DJL's PyTorch engine with the setting's thread counts (from the first call on, later calls return
     * the first call's result), and logs one line with the counts torch reports. If the engine was started
     * before, by code that did not come through here, the intra-op count is set on the running engine (torch
     * allows that) and the inter-op count, which torch fixes at its first parallel work, is left with a warning.
     */
    public static synchronized Started start(String setting, boolean gpu) {
        if (started != null) {
            return started;
        }
        Plan plan = resolve(setting, gpu, System.getProperties());
        ensureOffline();
        // DJL reads these two properties once, while the engine starts just below.
        if (plan.intraOp() != DJL_DEFAULT) {
            System.setProperty(DJL_INTRA, Integer.toString(plan.intraOp()));
        }
        if (plan.interOp() != DJL_DEFAULT) {
            System.setProperty(DJL_INTEROP, Integer.toString(plan.interOp()));
        }
        Engine.getEngine("PyTorch");
        if (plan.intraOp() != DJL_DEFAULT && JniUtils.getNumThreads() != plan.intraOp()) {
            LOG.warn("the PyTorch engine was started before the worker's thread setting, with {} intra-op threads;"
                    + " setting {}", JniUtils.getNumThreads(), plan.intraOp());
            JniUtils.setNumThreads(plan.intraOp());
        }
        int inter = JniUtils.getNumInteropThreads();
        if (plan.interOp() != DJL_DEFAULT && inter != plan.interOp()) {
            LOG.warn("the PyTorch engine was started before the worker's thread setting: it keeps {} inter-op threads"
                    + " (torch fixes them at its first parallel work), not {}", inter, plan.interOp());
        }
        started = new Started(plan, JniUtils.getNumThreads(), inter);
        LOG.info("torch threads: {} intra-op, {} inter-op ({})", started.intraOp(), started.interOp(), plan.source());
        return started;
    }
}
