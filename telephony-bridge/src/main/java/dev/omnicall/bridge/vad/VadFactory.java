package dev.omnicall.bridge.vad;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Makes one {@link Vad} per call: Silero when its model can be found and loaded, otherwise the energy
 * VAD, saying so once in the log. The model is looked for at, in order: the system property
 * {@value #MODEL_PROPERTY}, the environment variable {@value #MODEL_ENV}, then the places the build puts
 * it ({@code telephony-bridge/target/silero-vad/silero_vad.onnx}, {@code target/silero-vad/silero_vad.onnx},
 * {@code .omnicall/silero_vad.onnx}, relative to the working directory).
 */
public final class VadFactory implements AutoCloseable {
    public static final String MODEL_PROPERTY = "omnicall.vad.silero-model";
    public static final String MODEL_ENV = "OMNICALL_SILERO_MODEL";
    private static final Logger LOG = LoggerFactory.getLogger(VadFactory.class);

    /** The energy gate in front of Silero, dBFS, or "off" ({@link EnergyGatedVad#DEFAULT_GATE_DBFS} when unset). */
    public static final String GATE_PROPERTY = "omnicall.vad.energy-gate-dbfs";

    /** The rate Silero runs at: 16000 (default) or 8000 (every other sample of the 16 kHz frames; ~0.6 of the cost). */
    public static final String RATE_PROPERTY = "omnicall.vad.silero-rate";

    private final SileroModel silero; // null: energy fallback
    private final String fallbackReason;
    private volatile double gateDbfs = gateFromProperty();

    private static double gateFromProperty() {
        String v = System.getProperty(GATE_PROPERTY);
        if (v == null || v.isBlank()) {
            return EnergyGatedVad.DEFAULT_GATE_DBFS;
        }
        if (v.trim().equalsIgnoreCase("off")) {
            return Double.NaN;
        }
        try {
            return Double.parseDouble(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("-D" + GATE_PROPERTY + "=" + v + " is neither a level in dBFS nor off");
        }
    }

    /** Silero behind an energy gate at {@code dbfs} (e.g. -50), or without one for NaN; calls made from now on. */
    public VadFactory withEnergyGate(double dbfs) {
        if (!Double.isNaN(dbfs) && !(dbfs < 0 && dbfs > -96)) {
            throw new IllegalArgumentException("energy gate " + dbfs + " dBFS is outside -96..0");
        }
        this.gateDbfs = dbfs;
        return this;
    }

    /** The energy gate in dBFS, NaN when off. */
    public double energyGateDbfs() {
        return gateDbfs;
    }

    private VadFactory(SileroModel silero, String fallbackReason) {
        this.silero = silero;
        this.fallbackReason = fallbackReason;
    }

    /** Finds and loads Silero if possible; logs the fallback otherwise. */
    public static VadFactory create() {
        return create(locateModel());
    }

    public static VadFactory create(Optional<Path> modelPath) {
        return create(modelPath, rateFromProperty());
    }

    private static int rateFromProperty() {
        String v = System.getProperty(RATE_PROPERTY);
        if (v == null || v.isBlank()) {
            return SileroModel.RATE_16K;
        }
        try {
            int rate = Integer.parseInt(v.trim());
            if (rate == SileroModel.RATE_16K || rate == SileroModel.RATE_8K) {
                return rate;
            }
        } catch (NumberFormatException e) {
            // said below
        }
        throw new IllegalArgumentException("-D" + RATE_PROPERTY + "=" + v + " must be 16000 or 8000");
    }

    /** Silero from {@code modelPath} at {@code sampleRate} (16000 or 8000), or the energy VAD when it cannot load. */
    public static VadFactory create(Optional<Path> modelPath, int sampleRate) {
        if (sampleRate != SileroModel.RATE_16K && sampleRate != SileroModel.RATE_8K) {
            throw new IllegalArgumentException("Silero VAD runs at 16000 or 8000 Hz, not " + sampleRate);
        }
        if (modelPath.isEmpty()) {
            String reason = "Silero VAD model not found (looked at " + candidates() + "; set -D" + MODEL_PROPERTY
                    + " or run the build with npm available)";
            LOG.warn("{}: falling back to the energy VAD", reason);
            return new VadFactory(null, reason);
        }
        try {
            SileroModel model = SileroModel.load(modelPath.get(), sampleRate);
            LOG.info("VAD: Silero v5 at {} Hz from {}", sampleRate, modelPath.get());
            return new VadFactory(model, null);
        } catch (Exception | UnsatisfiedLinkError e) {
            String reason = "Silero VAD model " + modelPath.get() + " failed to load: " + e.getMessage();
            LOG.warn("{}: falling back to the energy VAD", reason);
            return new VadFactory(null, reason);
        }
    }

    /** Only the energy VAD, e.g. for load tests that leave Silero out on purpose. */
    public static VadFactory energyOnly() {
        return new VadFactory(null, "energy VAD chosen by configuration");
    }

    public static Optional<Path> locateModel() {
        for (Path p : candidates()) {
            if (Files.isRegularFile(p)) {
                return Optional.of(p);
            }
        }
        return Optional.empty();
    }

    static List<Path> candidates() {
        List<Path> paths = new ArrayList<>();
        String prop = System.getProperty(MODEL_PROPERTY);
        if (prop != null && !prop.isBlank()) {
            paths.add(Path.of(prop));
        }
        String env = System.getenv(MODEL_ENV);
        if (env != null && !env.isBlank()) {
            paths.add(Path.of(env));
        }
        paths.add(Path.of("telephony-bridge", "target", "silero-vad", "silero_vad.onnx"));
        paths.add(Path.of("target", "silero-vad", "silero_vad.onnx"));
        paths.add(Path.of(".omnicall", "silero_vad.onnx"));
        paths.add(Path.of("..", ".omnicall", "silero_vad.onnx"));
        return paths;
    }

    public Vad newVad() {
        if (silero == null) {
            return new EnergyVad();
        }
        return Double.isNaN(gateDbfs) ? silero.newVad() : new EnergyGatedVad(silero.newVad(), gateDbfs);
    }

    public boolean usesSilero() {
        return silero != null;
    }

    /** The rate Silero runs at, 0 with the energy VAD. */
    public int sileroRate() {
        return silero == null ? 0 : silero.sampleRate();
    }

    /** Why the energy VAD is used, or empty when Silero is. */
    public Optional<String> fallbackReason() {
        return Optional.ofNullable(fallbackReason);
    }

    @Override
    public void close() {
        if (silero != null) {
            silero.close();
        }
    }
}
