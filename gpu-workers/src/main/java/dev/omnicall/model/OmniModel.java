package dev.omnicall.model;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.omnicall.model.config.OmniConfig;
import dev.omnicall.model.config.VocoderConfig;
import dev.omnicall.model.io.ShardedCheckpoint;
import dev.omnicall.model.io.TensorSource;
import dev.omnicall.model.io.TorchCheckpoint;
import dev.omnicall.model.io.SafeTensorsFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import ai.djl.ndarray.NDArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A loaded LLaMA-Omni checkpoint: every block on one device, plus the tokenizer. The blocks are
 * stateless after loading; per-turn state lives in caches and streams, so one model serves many turns.
 */
public final class OmniModel implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(OmniModel.class);

    private final OmniConfig config;
    private final ModelOptions options;
    private final NDManager manager;
    private final LogMelFrontend frontend;
    private final WhisperEncoder encoder;
    private final SpeechAdaptor adaptor;
    private final LlamaModel llm;
    private final CtcUnitDecoder ctc;
    private final UnitVocoder vocoder;
    private final OmniTokenizer tokenizer;

    private OmniModel(OmniConfig config, ModelOptions options, NDManager manager, LogMelFrontend frontend,
            WhisperEncoder encoder, SpeechAdaptor adaptor, LlamaModel llm, CtcUnitDecoder ctc, UnitVocoder vocoder,
            OmniTokenizer tokenizer) {
        this.config = config;
        this.options = options;
        this.manager = manager;
        this.frontend = frontend;
        this.encoder = encoder;
        this.adaptor = adaptor;
        this.llm = llm;
        this.ctc = ctc;
        this.vocoder = vocoder;
        this.tokenizer = tokenizer;
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

    public static OmniModel load(Path dir, ModelOptions options) {
        OmniConfig config = OmniConfig.read(dir);
        Path vocoderFile = dir.resolve(options.vocoderCheckpoint());
        if (!Files.isRegularFile(vocoderFile)) {
            throw new IllegalArgumentException("vocoder checkpoint " + vocoderFile + " does not exist");
        }
        VocoderConfig vocoderConfig = VocoderConfig.read(dir.resolve(options.vocoderConfig()));
        try (ShardedCheckpoint weights = ShardedCheckpoint.open(dir);
                TensorSource vocoderWeights = vocoderFile.toString().endsWith(".safetensors")
                        ? SafeTensorsFile.open(vocoderFile) : TorchCheckpoint.open(vocoderFile, "generator")) {
            return assemble(config, weights, vocoderConfig, vocoderWeights, dir, options);
        }
    }

    /**
     * Builds the model from any weight source (the benchmark uses random weights of a large shape); the
     * tokenizer and vocoder still come from dir.
     */
    public static OmniModel assemble(OmniConfig config, TensorSource weights, VocoderConfig vocoderConfig,
            TensorSource vocoderWeights, Path tokenizerDir, ModelOptions options) {
        ensureOffline();
        long t0 = System.nanoTime();
        NDManager manager = NDManager.newBaseManager(options.djlDevice(), Engine.getEngine("PyTorch").getEngineName());
        DataType type = options.dataType();
        try {
            var convInfo = weights.info(WhisperEncoder.PREFIX + "conv1.weight");
            int nMels = convInfo == null ? 128 : (int) convInfo.shape()[1];
            LogMelFrontend frontend = new LogMelFrontend(manager, nMels, options.paddedSeconds());
            WhisperEncoder encoder = new WhisperEncoder(weights, manager, type, config, nMels);
            SpeechAdaptor adaptor = new SpeechAdaptor(weights, manager, type, config);
            LlamaModel llm = new LlamaModel(weights, manager, type, config);
            CtcUnitDecoder ctc = new CtcUnitDecoder(weights, manager, type, config);
            UnitVocoder vocoder = new UnitVocoder(vocoderWeights, manager, vocoderConfig);
            if (vocoder.config().numEmbeddings() != config.unitVocabSize()) {
                throw new IllegalArgumentException("vocoder has " + vocoder.config().numEmbeddings()
                        + " unit embeddings but config.json unit_vocab_size is " + config.unitVocabSize());
            }
            OmniTokenizer tokenizer = OmniTokenizer.load(tokenizerDir);
            LOG.info("loaded {} on {} as {} in {} ms", tokenizerDir, options.device(), type,
                    (System.nanoTime() - t0) / 1_000_000);
            return new OmniModel(config, options, manager, frontend, encoder, adaptor, llm, ctc, vocoder, tokenizer);
        } catch (RuntimeException e) {
            manager.close();
            throw e;
        }
    }

    /** The prompt rows of one turn and what each position holds (token id, or negative for speech). */
    public record Prompt(NDArray embeddings, long[] keys) {
    }

    /** 16 kHz audio in [-1, 1] -> speech embeddings [rows, llmDim]: log-mel, encoder, adaptor. */
    public NDArray encodeSpeech(float[] audio16k) {
        return Ops.scoped(() -> adaptor.forward(encoder.forward(frontend.forward(manager, audio16k))));
    }

    /**
     * The chat prompt with the speech rows spliced in at {@code <speech>}; speechKey (negative) names
     * this turn's speech so that cached positions can be matched between turns.
     */
    public Prompt prompt(NDArray speech, List<ChatPrompt.HistoryTurn> history, long speechKey) {
        ChatPrompt.Parts parts = ChatPrompt.build(history);
        long[] before = tokenizer.encode(parts.beforeSpeech());
        long[] after = tokenizer.encode(parts.afterSpeech());
        int rows = (int) speech.getShape().get(0);
        long[] keys = new long[before.length + rows + after.length];
        System.arraycopy(before, 0, keys, 0, before.length);
        for (int i = 0; i < rows; i++) {
            keys[before.length + i] = speechKey - i;
        }
        System.arraycopy(after, 0, keys, before.length + rows, after.length);
        NDArray embeddings = Ops.scoped(() -> llm.embed(before)
                .concat(speech.toType(llm.dataType(), false), 0).concat(llm.embed(after), 0));
        return new Prompt(embeddings, keys);
    }

    /** Audio as float in [-1, 1] from signed 16-bit PCM. */
    public static float[] pcmToFloat(short[] pcm) {
        float[] out = new float[pcm.length];
        for (int i = 0; i < pcm.length; i++) {
            out[i] = pcm[i] / 32768f;
        }
        return out;
    }

    public boolean isEos(long token) {
        return config.eosTokenId().contains((int) token);
    }

    public OmniConfig config() {
        return config;
    }

    public ModelOptions options() {
        return options;
    }

    public NDManager manager() {
        return manager;
    }

    public LogMelFrontend frontend() {
        return frontend;
    }

    public WhisperEncoder encoder() {
        return encoder;
    }

    public SpeechAdaptor adaptor() {
        return adaptor;
    }

    public LlamaModel llm() {
        return llm;
    }

    public CtcUnitDecoder ctc() {
        return ctc;
    }

    public UnitVocoder vocoder() {
        return vocoder;
    }

    public OmniTokenizer tokenizer() {
        return tokenizer;
    }

    @Override
    public void close() {
        tokenizer.close();
        manager.close();
    }
}
