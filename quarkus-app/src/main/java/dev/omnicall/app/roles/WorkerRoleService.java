package dev.omnicall.app.roles;

import dev.omnicall.app.config.OmniCallConfig;
import dev.omnicall.app.config.Role;
import dev.omnicall.kafka.TurnTrace;
import dev.omnicall.model.LengthPenalty;
import dev.omnicall.model.TorchThreads;
import dev.omnicall.model.omni2.Cosy2Decoder;
import dev.omnicall.model.stream.TranscriptionOptions;
import dev.omnicall.worker.DeviceSpec;
import dev.omnicall.worker.InferenceWorker;
import dev.omnicall.worker.MicrometerWorkerMetrics;
import dev.omnicall.worker.WorkerConfig;
import dev.omnicall.worker.engine.OmniTurnEngine;
import dev.omnicall.worker.engine.TurnEngine;
import dev.omnicall.worker.engine.TurnEngines;
import dev.omnicall.worker.engine.omni2.Omni2TurnEngine;
import org.jboss.logging.Logger;

import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The worker role: {@code gpu-workers/}'s {@link InferenceWorker} on the {@link TurnEngine} of the checkpoint's
 * family ({@link TurnEngines}: LLaMA-Omni or LLaMA-Omni2, from config.json {@code model_type}) loaded from
 * {@code omnicall.model.dir} on {@code omnicall.model.device}, in the shared consumer group
 * {@value WorkerConfig#DEFAULT_GROUP}. Its meters ({@code omnicall_worker_queue_depth}, ...) go to the app's
 * registry.
 */
public final class WorkerRoleService implements RoleService {

    private static final Logger LOG = Logger.getLogger(WorkerRoleService.class);
    private static final Duration JOIN_TIMEOUT = Duration.ofSeconds(60);

    private final Path modelDir;
    private final double encoderPaddedSeconds;
    private final TurnTrace trace;
    private volatile TurnEngine engine;
    private volatile InferenceWorker worker;
    private volatile Thread loop;
    private volatile Throwable crashed;
    private volatile boolean closing;
    private volatile long loadMillis = -1;
    private volatile Duration drainTimeout = Duration.ZERO;

    /**
     * @param modelDir             the checkpoint the boot sequence prepared (configured, the demo model, or the tiny one it wrote)
     * @param encoderPaddedSeconds log-mel input length for it (configured, or the boot sequence's default for that checkpoint)
     */
    public WorkerRoleService(Path modelDir, double encoderPaddedSeconds) {
        this(modelDir, encoderPaddedSeconds, TurnTrace.RELAY);
    }

    /** @param trace what the worker does with a turn's trace context (dev.omnicall.app.trace) */
    public WorkerRoleService(Path modelDir, double encoderPaddedSeconds, TurnTrace trace) {
        this.modelDir = modelDir;
        this.encoderPaddedSeconds = encoderPaddedSeconds;
        this.trace = trace;
    }

    /** The worker's settings from the app's: the library's defaults for what the catalogue does not list. */
    static WorkerConfig workerConfig(RoleContext context, Path modelDir, double encoderPaddedSeconds) {
        OmniCallConfig c = context.config();
        WorkerConfig d = WorkerConfig.defaults(context.kafka(), modelDir);
        return new WorkerConfig(context.kafka(), context.serde(), modelDir, DeviceSpec.parse(c.model().device()),
                encoderPaddedSeconds, c.model().omega(), c.worker().maxBatch(), d.batchedDecode(),
                c.worker().kvCacheBytes(), c.model().maxNewTokens(), d.maxAudio(), d.maxQueuedTurns(),
                "worker-" + c.instanceId(), WorkerConfig.DEFAULT_GROUP, transcription(c.worker().transcribe()));
    }

    /** {@code omnicall.worker.transcribe.*} as the worker's options (ConfigCheck has checked the ranges). */
    static TranscriptionOptions transcription(OmniCallConfig.Worker.Transcribe t) {
        return new TranscriptionOptions(t.enabled(), t.language().trim(), t.maxTokens(), t.tokensPerStep(), t.maxDelay(),
                t.beams(), LengthPenalty.parse(t.lengthPenalty()));
    }

    /**
     * The scheduler's settings that gpu-workers' InferenceWorker reads as system properties, for those set here:
     * without the mapping such a {@code -D} would stop the app as an unknown key.
     */
    static Map<String, String> schedulerSettings(OmniCallConfig.Worker w) {
        Map<String, String> out = new LinkedHashMap<>();
        w.admissionMarginMs().filter(s -> !s.isBlank()).ifPresent(s -> out.put(InferenceWorker.ADMISSION_MARGIN_MS, s.strip()));
        w.prefillGapBound().filter(s -> !s.isBlank()).ifPresent(s -> out.put(InferenceWorker.PREFILL_GAP_BOUND, s.strip()));
        w.prefillGapMarginMs().ifPresent(ms -> out.put(InferenceWorker.PREFILL_GAP_MARGIN_MS, Long.toString(ms)));
        return out;
    }

    /**
     * The engine's prefill and KV pool settings, which gpu-workers' OmniTurnEngine reads as system properties (the
     * same names), for those set here: without the mapping such a {@code -D} would stop the app as an unknown key.
     */
    static Map<String, String> engineSettings(OmniCallConfig.Worker w) {
        Map<String, String> out = new LinkedHashMap<>();
        w.fusedPrefill().filter(s -> !s.isBlank()).ifPresent(s -> out.put(OmniTurnEngine.FUSED_PREFILL, s.strip()));
        w.prefillSliceRows().filter(s -> !s.isBlank())
                .ifPresent(s -> out.put(OmniTurnEngine.PREFILL_SLICE_ROWS, s.strip()));
        w.kvPool().filter(s -> !s.isBlank()).ifPresent(s -> out.put(OmniTurnEngine.POOL_SWITCH, s.strip()));
        w.kvPoolPositions().ifPresent(n -> out.put(OmniTurnEngine.POOL_POSITIONS, Long.toString(n)));
        w.kvPoolMaxSlots().ifPresent(n -> out.put(OmniTurnEngine.POOL_MAX_SLOTS, Integer.toString(n)));
        w.ctcPoolTokens().ifPresent(n -> out.put(OmniTurnEngine.CTC_POOL_TOKENS, Long.toString(n)));
        return out;
    }

    /**
     * {@code omnicall.worker.omni2.*} as the system properties gpu-workers' Omni2 engine reads (the same names; only
     * the keys that are set, so an unset one leaves the engine's default, or a -D value, alone).
     */
    static Map<String, String> omni2Settings(OmniCallConfig.Worker.Omni2 o) {
        Map<String, String> out = new LinkedHashMap<>();
        o.ttsFinalCap().ifPresent(cap -> out.put(Omni2TurnEngine.FINAL_CAP_KEY, Integer.toString(cap)));
        o.streamParams().filter(s -> !s.isBlank()).ifPresent(s -> out.put(Omni2TurnEngine.STREAM_PARAMS_KEY, s.strip()));
        o.ttsSampling().filter(s -> !s.isBlank()).ifPresent(s -> out.put(Omni2TurnEngine.TTS_SAMPLING_KEY, s.strip()));
        o.decoderDir().ifPresent(dir -> out.put(Omni2TurnEngine.DECODER_DIR_KEY, dir));
        o.speakerWav().ifPresent(wav -> out.put(Cosy2Decoder.SPEAKER_WAV_KEY, wav));
        return out;
    }

    @Override
    public Role role() {
        return Role.WORKER;
    }

    @Override
    public void start(RoleContext context) throws InterruptedException {
        WorkerConfig config = workerConfig(context, modelDir, encoderPaddedSeconds);
        drainTimeout = context.config().worker().drainTimeout();
        long t0 = System.nanoTime();
        // Before the model loads: DJL reads the thread counts once, when its engine starts (nothing else in the
        // app starts it: the bridge's Silero VAD runs on ONNX Runtime with its own single thread).
        TorchThreads.start(context.config().worker().torchThreads(), config.device().isGpu());
        // the Omni2 engine reads its settings as system properties: hand on what application.properties set
        omni2Settings(context.config().worker().omni2()).forEach(System::setProperty);
        schedulerSettings(context.config().worker()).forEach(System::setProperty);
        engineSettings(context.config().worker()).forEach(System::setProperty);
        engine = TurnEngines.load(config, context.config().model().speechEncoder().orElse(null));
        loadMillis = (System.nanoTime() - t0) / 1_000_000;
        LOG.infof("[worker] model loaded from %s on %s in %d ms", modelDir, config.device(), loadMillis);
        InferenceWorker w = new InferenceWorker(config, engine, new MicrometerWorkerMetrics(context.registry(), config.instanceId()),
                trace);
        worker = w;
        Thread t = new Thread(() -> {
            try {
                w.run();
            } catch (Throwable e) {
                crashed = e;
                LOG.error("worker loop stopped", e);
            }
        }, "omnicall-worker");
        t.setDaemon(true);
        loop = t;
        t.start();
        long deadline = System.nanoTime() + JOIN_TIMEOUT.toNanos();
        while (!w.hasJoined() && t.isAlive() && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        if (!w.hasJoined()) {
            LOG.warnf("worker has not joined group %s after %d s", config.groupId(), JOIN_TIMEOUT.toSeconds());
        }
    }

    @Override
    public RoleStatus status() {
        InferenceWorker w = worker;
        Thread t = loop;
        if (crashed != null || (t != null && !t.isAlive() && !closing)) {
            return RoleStatus.of(RoleStatus.State.FAILED, "worker loop stopped: " + crashed);
        }
        if (closing) {
            return RoleStatus.of(RoleStatus.State.STOPPED, "stopped");
        }
        if (w == null) {
            return RoleStatus.of(RoleStatus.State.STARTING, "loading the model from " + modelDir);
        }
        if (!w.hasJoined()) {
            return RoleStatus.of(RoleStatus.State.STARTING, "joining group " + WorkerConfig.DEFAULT_GROUP);
        }
        return RoleStatus.of(RoleStatus.State.RUNNING, "model " + modelDir + " (loaded in " + loadMillis + " ms), "
                + w.waitingTurns() + " waiting, " + w.activeTurns() + " active turns"
                + (w.isAssigned() ? "" : ", no partition assigned yet (none at all when workers outnumber partitions)"));
    }

    @Override
    public void close() {
        closing = true;
        InferenceWorker w = worker;
        if (w != null) {
            w.drainAndClose(drainTimeout);
        }
        Thread t = loop;
        if (t != null) {
            try {
                t.join(10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        TurnEngine e = engine;
        if (e != null) {
            e.close();
        }
    }
}
