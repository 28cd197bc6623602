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
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The decoder directory ({@code cosy2_decoder}, CHECKPOINT-OMNI2.md "cosy2_decoder: files"): {@code flow.pt}
 * ({@link FlowMatching}), {@code hift.pt} ({@link HiftVocoder}; both weight-norm namings, a {@code generator.}
 * prefix stripped) and the speaker's x-vector. Loaded once per worker; {@link #newStream} gives each reply its
 * own {@link SpeechStream}.
 *
 * <p>Sizes: CosyVoice2-0.5B's unless the directory holds {@value #SIZES_FILE} (this runtime's addition, written by
 * the tiny checkpoints: the flow encoder's and estimator's settings, which flow.pt's shapes do not all tell).
 *
 * <p>The speaker, once per voice at load ({@link #readSpeaker}): a cached x-vector {@value #XVECTOR_FILE} (one float
 * tensor {@value #XVECTOR_TENSOR} of [D] or [1, D]) wins when the directory holds one; otherwise the 192-d CAM++
 * x-vector of the prompt WAV ({@link CampPlusSpeaker}: 80-bin Kaldi fbank through {@value CampPlusSpeaker#ONNX_FILE}
 * in this directory), the WAV from {@value #SPEAKER_WAV_KEY} (a relative path resolves against this directory;
 * default {@value #DEFAULT_SPEAKER_WAV} in it). Either way the raw x-vector: the flow L2-normalises it.
 */
public final class Cosy2Decoder {
    private static final Logger LOG = LoggerFactory.getLogger(Cosy2Decoder.class);
    public static final String DIR_NAME = "cosy2_decoder";
    public static final String FLOW_FILE = "flow.pt";
    public static final String HIFT_FILE = "hift.pt";
    public static final String SIZES_FILE = "omnicall_sizes.json";
    public static final String XVECTOR_FILE = "spk_embedding.safetensors";
    public static final String XVECTOR_TENSOR = "embedding";
    /** System property: the speaker prompt WAV ({@link CampPlusSpeaker#readPromptWav}), used when nothing is cached. */
    public static final String SPEAKER_WAV_KEY = "omnicall.worker.omni2.speaker-wav";
    /** The prompt WAV's default name in the decoder directory (the reference's llama_omni2/inference/prompt_en.wav). */
    public static final String DEFAULT_SPEAKER_WAV = "prompt_en.wav";

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
    private final String speakerSource;

    private Cosy2Decoder(Path dir, FlowMatching flow, HiftVocoder hift, Speaker speaker) {
        this.dir = dir;
        this.flow = flow;
        this.hift = hift;
        this.xvector = speaker.xvector();
        this.speakerSource = speaker.source();
    }

    /** The speaker's raw x-vector and where it came from (the cached file, or campplus.onnx on which WAV). */
    record Speaker(float[] xvector, Path file, String source) {
    }

    /** {@link #load(Path, NDManager, SourcePins, Path)} with the prompt WAV from {@value #SPEAKER_WAV_KEY}. */
    public static Cosy2Decoder load(Path dir, NDManager manager, SourcePins pins) {
        String wav = System.getProperty(SPEAKER_WAV_KEY);
        return load(dir, manager, pins, wav == null || wav.isBlank() ? null : Path.of(wav));
    }

    /**
     * Loads {@code dir}: one clear error when the directory, {@code flow.pt}, {@code hift.pt} or the speaker is
     * missing (neither {@value #XVECTOR_FILE} nor a readable 16 kHz mono prompt WAV with {@code campplus.onnx}); a
     * missing or misshaped tensor names itself, its file and both shapes.
     *
     * @param speakerWav the prompt WAV (relative: against {@code dir}); null for {@value #DEFAULT_SPEAKER_WAV} there
     */
    public static Cosy2Decoder load(Path dir, NDManager manager, SourcePins pins, Path speakerWav) {
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
        Speaker speaker = readSpeaker(dir, speakerWav);
        float[] xvector = speaker.xvector();
        FlowMatching flow = FlowMatching.load(dir.resolve(FLOW_FILE), manager, sizes.encoder(), sizes.estimator(),
                FlowMatching.DEFAULT_NOISE_SEED);
        long width = flow.spkAffine.getShape().get(1);
        if (width != xvector.length) {
            throw new CheckpointException(speaker.file() + ": the x-vector has "
                    + xvector.length + " values but " + FLOW_FILE + "'s spk_embed_affine_layer.weight "
                    + flow.spkAffine.getShape() + " takes an x-vector of " + width);
        }
        HiftVocoder hift = HiftVocoder.load(dir.resolve(HIFT_FILE), manager, pins);
        if (hift.config().melBins() != sizes.encoder().melBins()) {
            throw new CheckpointException(HIFT_FILE + " takes " + hift.config().melBins() + " mel bins but "
                    + FLOW_FILE + " makes " + sizes.encoder().melBins() + " in " + dir);
        }
        return new Cosy2Decoder(dir, flow, hift, speaker);
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

    /**
     * The speaker's raw x-vector [D]: {@value #XVECTOR_FILE} when {@code dir} holds it (it wins, even over a
     * configured WAV), else CAM++ ({@value CampPlusSpeaker#ONNX_FILE} in {@code dir}) on the prompt WAV.
     */
    static Speaker readSpeaker(Path dir, Path speakerWav) {
        Path cached = dir.resolve(XVECTOR_FILE);
        Path wav = dir.resolve(speakerWav == null ? Path.of(DEFAULT_SPEAKER_WAV) : speakerWav);
        if (Files.isRegularFile(cached)) {
            if (speakerWav != null) {
                LOG.warn("speaker: the cached {} wins over the configured prompt WAV {} (delete it to use the WAV)",
                        cached, wav);
            }
            return new Speaker(readXvector(cached), cached, "cached " + cached);
        }
        if (speakerWav == null && !Files.exists(wav)) {
            throw new CheckpointException("the decoder directory " + dir + " has no speaker: neither a cached x-vector "
                    + XVECTOR_FILE + " (one float tensor '" + XVECTOR_TENSOR + "' of [192]) nor the prompt WAV " + wav
                    + " for " + CampPlusSpeaker.ONNX_FILE + " (mono, 16 kHz or more, 16-bit PCM or 32-bit float; another path"
                    + " with -D" + SPEAKER_WAV_KEY + "=...)");
        }
        long t0 = System.nanoTime();
        float[] xvector = CampPlusSpeaker.xvector(dir.resolve(CampPlusSpeaker.ONNX_FILE), wav);
        LOG.info("speaker x-vector [{}] from {} with {} in {} ms", xvector.length, wav, CampPlusSpeaker.ONNX_FILE,
                (System.nanoTime() - t0) / 1_000_000);
        return new Speaker(xvector, wav, CampPlusSpeaker.ONNX_FILE + " on " + wav);
    }

    /** The speaker x-vector [D] from its cached file. */
    static float[] readXvector(Path file) {
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

    /** The speaker's raw x-vector, as handed to the flow (before its L2 normalisation). */
    public float[] xvector() {
        return xvector.clone();
    }

    /** Where the x-vector came from, in words: the cached file, or campplus.onnx on which WAV. */
    public String speakerSource() {
        return speakerSource;
    }

    public Path dir() {
        return dir;
    }

    public int sampleRate() {
        return hift.sampleRate();
    }
}
