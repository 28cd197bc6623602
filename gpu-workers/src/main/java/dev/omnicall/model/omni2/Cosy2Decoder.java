package dev.omnicall.model.omni2;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.omnicall.model.config.Json;
import dev.omnicall.model.io.CheckpointException;
import dev.omnicall.model.io.SafeTensorsFile;
import dev.omnicall.model.io.TensorInfo;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The decoder directory ({@code cosy2_decoder}, CHECKPOINT-OMNI2.md "cosy2_decoder: files"): {@code flow.pt}
 * ({@link FlowMatching}), {@code hift.pt} ({@link HiftVocoder}; both weight-norm namings, a {@code generator.}
 * prefix stripped) and the speaker's x-vector. Loaded once per worker; {@link #newStream} gives each reply its
 * own {@link SpeechStream}.
 *
 * <p>Sizes: CosyVoice2-0.5B's unless the directory holds {@value #SIZES_FILE} (this runtime's addition, written by
 * the tiny checkpoints: the flow encoder's and estimator's settings, which flow.pt's shapes do not all tell).
 *
 * <p>The speaker: the reference computes a 192-d CAM++ x-vector with {@code campplus.onnx} from a prompt WAV.
 * That step is not ported yet; the x-vector is read from {@value #XVECTOR_FILE} (one float tensor
 * {@value #XVECTOR_TENSOR} of [D] or [1, D]), computed once per voice outside.
 */
public final class Cosy2Decoder {
    public static final String DIR_NAME = "cosy2_decoder";
    public static final String FLOW_FILE = "flow.pt";
    public static final String HIFT_FILE = "hift.pt";
    public static final String SIZES_FILE = "omnicall_sizes.json";
    public static final String XVECTOR_FILE = "spk_embedding.safetensors";
    public static final String XVECTOR_TENSOR = "embedding";

    /** The flow's settings ({@value #SIZES_FILE}'s content). */
    public record Sizes(FlowEncoderConfig encoder, FlowEstimator.Config estimator) {
        public Sizes {
            if (encoder == null || estimator == null) {
                throw new IllegalArgumentException(SIZES_FILE + " needs both 'encoder' and 'estimator'");
            }
        }

        public static Sizes cosyVoice2() {
            return new Sizes(FlowEncoderConfig.cosyVoice2(), FlowEstimator.Config.cosyVoice2());
        }
    }

    private final Path dir;
    private final FlowMatching flow;
    private final HiftVocoder hift;
    private final float[] xvector;

    private Cosy2Decoder(Path dir, FlowMatching flow, HiftVocoder hift, float[] xvector) {
        this.dir = dir;
        this.flow = flow;
        this.hift = hift;
        this.xvector = xvector;
    }

    /**
     * Loads {@code dir}: one clear error when the directory, {@code flow.pt}, {@code hift.pt} or the x-vector is
     * missing; a missing or misshaped tensor names itself, its file and both shapes.
     */
    public static Cosy2Decoder load(Path dir, NDManager manager, SourcePins pins) {
        if (!Files.isDirectory(dir)) {
            throw new CheckpointException("the LLaMA-Omni2 decoder directory " + dir + " does not exist (it holds "
                    + FLOW_FILE + ", " + HIFT_FILE + " and the speaker's " + XVECTOR_FILE + ")");
        }
        for (String name : new String[] {FLOW_FILE, HIFT_FILE}) {
            if (!Files.isRegularFile(dir.resolve(name))) {
                throw new CheckpointException("the decoder directory " + dir + " has no " + name + " (both "
                        + FLOW_FILE + " and " + HIFT_FILE + " of cosy2_decoder are needed)");
            }
        }
        Sizes sizes = readSizes(dir);
        float[] xvector = readXvector(dir.resolve(XVECTOR_FILE));
        FlowMatching flow = FlowMatching.load(dir.resolve(FLOW_FILE), manager, sizes.encoder(), sizes.estimator(),
                FlowMatching.DEFAULT_NOISE_SEED);
        long width = flow.spkAffine.getShape().get(1);
        if (width != xvector.length) {
            throw new CheckpointException(dir.resolve(XVECTOR_FILE) + ": tensor " + XVECTOR_TENSOR + " has "
                    + xvector.length + " values but " + FLOW_FILE + "'s spk_embed_affine_layer.weight "
                    + flow.spkAffine.getShape() + " takes an x-vector of " + width);
        }
        HiftVocoder hift = HiftVocoder.load(dir.resolve(HIFT_FILE), manager, pins);
        if (hift.config().melBins() != sizes.encoder().melBins()) {
            throw new CheckpointException(HIFT_FILE + " takes " + hift.config().melBins() + " mel bins but "
                    + FLOW_FILE + " makes " + sizes.encoder().melBins() + " in " + dir);
        }
        return new Cosy2Decoder(dir, flow, hift, xvector);
    }

    static Sizes readSizes(Path dir) {
        Path file = dir.resolve(SIZES_FILE);
        if (!Files.isRegularFile(file)) {
            return Sizes.cosyVoice2();
        }
        try {
            return Json.read(file, Sizes.class);
        } catch (RuntimeException e) {
            throw new CheckpointException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    /** The speaker x-vector [D] from its cached file. */
    static float[] readXvector(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new CheckpointException("the speaker x-vector " + file + " is missing: computing it from a prompt WAV"
                    + " with campplus.onnx is not ported yet, so the decoder directory needs it cached (a safetensors"
                    + " file with one float tensor '" + XVECTOR_TENSOR + "' of [192], e.g. written from CosyVoice's"
                    + " frontend for llama_omni2/inference/prompt_en.wav)");
        }
        try (SafeTensorsFile f = SafeTensorsFile.open(file); NDManager m = NDManager.newBaseManager()) {
            TensorInfo info = f.info(XVECTOR_TENSOR);
            if (info == null) {
                throw new CheckpointException("tensor " + XVECTOR_TENSOR + " is missing from " + file + " (it holds "
                        + f.names() + ")");
            }
            long n = 1;
            for (long d : info.shape()) {
                n *= d;
            }
            if (info.shape().length == 0 || info.shape().length > 2 || info.shape()[0] != n && info.shape()[0] != 1) {
                throw new CheckpointException("tensor " + XVECTOR_TENSOR + " in " + file + " has shape "
                        + info.shapeText() + "; one x-vector of [D] or [1, D] expected");
            }
            NDArray v = f.load(m, XVECTOR_TENSOR, DataType.FLOAT32, info.shape());
            return v.toFloatArray();
        }
    }

    /** One reply's units → 24 kHz audio, its caches on {@code manager}. */
    public SpeechStream newStream(NDManager manager) {
        return new SpeechStream(flow, hift, manager, xvector);
    }

    public FlowMatching flow() {
        return flow;
    }

    public HiftVocoder hift() {
        return hift;
    }

    public float[] xvector() {
        return xvector.clone();
    }

    public Path dir() {
        return dir;
    }

    public int sampleRate() {
        return hift.sampleRate();
    }
}
