package dev.omnicall.model.omni;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import dev.omnicall.model.HistoryTurn;
import dev.omnicall.model.LlamaModel;
import dev.omnicall.model.LogMelFrontend;
import dev.omnicall.model.ModelOptions;
import dev.omnicall.model.OmniTokenizer;
import dev.omnicall.model.Ops;
import dev.omnicall.model.Prompt;
import dev.omnicall.model.SpeechAdaptor;
import dev.omnicall.model.TorchThreads;
import dev.omnicall.model.Transcriber;
import dev.omnicall.model.TranscriberLoader;
import dev.omnicall.model.WhisperEncoder;
import dev.omnicall.model.WhisperEncoderFile;
import dev.omnicall.model.config.SpeechBlocksConfig;
import dev.omnicall.model.io.PrefixRoutedSource;
import dev.omnicall.model.io.SafeTensorsFile;
import dev.omnicall.model.io.ShardedCheckpoint;
import dev.omnicall.model.io.TensorSource;
import dev.omnicall.model.io.TorchCheckpoint;
import dev.omnicall.model.io.WhisperCheckpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A loaded LLaMA-Omni checkpoint: every block on one device, plus the tokenizer, and the caller
 * transcriber (Whisper's decoder) when the checkpoint has one. The blocks are stateless after loading;
 * per-turn state lives in caches and streams, so one model serves many turns.
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
    private final Transcriber transcriber; // null: none

    private OmniModel(OmniConfig config, ModelOptions options, NDManager manager, LogMelFrontend frontend,
            WhisperEncoder encoder, SpeechAdaptor adaptor, LlamaModel llm, CtcUnitDecoder ctc, UnitVocoder vocoder,
            OmniTokenizer tokenizer, Transcriber transcriber) {
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
        this.transcriber = transcriber;
    }

    public static OmniModel load(Path dir, ModelOptions options) {
        OmniConfig config = OmniConfig.read(dir);
        Path vocoderFile = dir.resolve(options.vocoderCheckpoint());
        if (!Files.isRegularFile(vocoderFile)) {
            throw new IllegalArgumentException("vocoder checkpoint " + vocoderFile + " does not exist");
        }
        VocoderConfig vocoderConfig = VocoderConfig.read(dir.resolve(options.vocoderConfig()));
        SpeechBlocksConfig speech = config.speechBlocks();
        try (ShardedCheckpoint shards = ShardedCheckpoint.open(dir);
                WhisperCheckpoint whisper = WhisperEncoderFile.openIfNeeded(shards, speech, dir, options);
                TensorSource vocoderWeights = vocoderFile.toString().endsWith(".safetensors")
                        ? SafeTensorsFile.open(vocoderFile) : TorchCheckpoint.open(vocoderFile, "generator")) {
            TensorSource weights = whisper == null ? shards
                    : new PrefixRoutedSource(shards, WhisperEncoder.PREFIX, whisper);
            try (TranscriberLoader.Plan transcriberPlan = TranscriberLoader.plan(shards, whisper, speech, dir, options)) {
                return assemble(config, weights, vocoderConfig, vocoderWeights, dir, options, transcriberPlan);
            }
        }
    }

    /**
     * Builds the model from any weight source (the benchmark uses random weights of a large shape); the
     * tokenizer and vocoder still come from dir.
     */
    public static OmniModel assemble(OmniConfig config, TensorSource weights, VocoderConfig vocoderConfig,
            TensorSource vocoderWeights, Path tokenizerDir, ModelOptions options) {
        return assemble(config, weights, vocoderConfig, vocoderWeights, tokenizerDir, options,
                TranscriberLoader.Plan.absent("assembled without a Whisper decoder source"));
    }

    private static OmniModel assemble(OmniConfig config, TensorSource weights, VocoderConfig vocoderConfig,
            TensorSource vocoderWeights, Path tokenizerDir, ModelOptions options, TranscriberLoader.Plan transcriberPlan) {
        TorchThreads.ensureOffline();
        long t0 = System.nanoTime();
        // The engine starts here unless the worker started it first (TorchThreads.start with its setting): then
        // this returns that start; otherwise the device's default thread counts apply.
        TorchThreads.start(TorchThreads.AUTO, options.djlDevice().isGpu());
        NDManager manager = NDManager.newBaseManager(options.djlDevice(), Engine.getEngine("PyTorch").getEngineName());
        DataType type = options.dataType();
        try {
            var convInfo = weights.info(WhisperEncoder.PREFIX + "conv1.weight");
            int nMels = convInfo == null ? 128 : (int) convInfo.shape()[1];
            LogMelFrontend frontend = new LogMelFrontend(manager, nMels, options.paddedSeconds());
            WhisperEncoder encoder = new WhisperEncoder(weights, manager, type, config.speechBlocks(), nMels);
            SpeechAdaptor adaptor = new SpeechAdaptor(weights, manager, type, config.speechBlocks());
            LlamaModel llm = LlamaModel.load(weights, manager, type, config.llmSpec());
            CtcUnitDecoder ctc = new CtcUnitDecoder(weights, manager, type, config);
            UnitVocoder vocoder = new UnitVocoder(vocoderWeights, manager, vocoderConfig);
            if (vocoder.config().numEmbeddings() != config.unitVocabSize()) {
                throw new IllegalArgumentException("vocoder has " + vocoder.config().numEmbeddings()
                        + " unit embeddings but config.json unit_vocab_size is " + config.unitVocabSize());
            }
            Transcriber transcriber = TranscriberLoader.build(transcriberPlan, manager, type);
            OmniTokenizer tokenizer = OmniTokenizer.load(tokenizerDir);
            LOG.info("loaded {} on {} as {} in {} ms", tokenizerDir, options.device(), type,
                    (System.nanoTime() - t0) / 1_000_000);
            return new OmniModel(config, options, manager, frontend, encoder, adaptor, llm, ctc, vocoder, tokenizer,
                    transcriber);
        } catch (RuntimeException e) {
            manager.close();
            throw e;
        }
    }

    /** 16 kHz audio in [-1, 1] -> speech embeddings [rows, llmDim]: log-mel, encoder, adaptor. */
    public NDArray encodeSpeech(float[] audio16k) {
        return Ops.scoped(() -> adaptor.forward(encoder.forward(frontend.forward(manager, audio16k))));
    }

    /**
     * 16 kHz audio in [-1, 1] -> Whisper encoder output [frames, n_audio_state] (log-mel + encoder): what
     * {@link Transcriber#start} takes; {@link #adapt} turns it into the speech embeddings, so a turn that
     * transcribes runs the encoder once ({@code encodeSpeech(a)} equals {@code adapt(encodeAudio(a))}).
     */
    public NDArray encodeAudio(float[] audio16k) {
        return Ops.scoped(() -> encoder.forward(frontend.forward(manager, audio16k)));
    }

    /**
     * {@link #encodeAudio} in slices (chunked prefill): nothing runs yet; the log-mel, the encoder's convolutions and its
     * blocks run in the {@link SpeechEncoding}'s slices, whose output equals {@code encodeAudio(audio16k)} to the bit
     * in whole blocks. The caller closes it.
     */
    public SpeechEncoding beginEncoding(float[] audio16k) {
        return new SpeechEncoding(manager, frontend, encoder, audio16k);
    }

    /** Encoder output [frames, n_audio_state] -> speech embeddings [rows, llmDim] (the adaptor). */
    public NDArray adapt(NDArray encoderOut) {
        return Ops.scoped(() -> adaptor.forward(encoderOut));
    }

    /**
     * The caller transcriber: present when the checkpoint has a Whisper decoder and its vocabulary and
     * {@link ModelOptions#transcriber()} is on; the load log says why when it is absent.
     */
    public Optional<Transcriber> transcriber() {
        return Optional.ofNullable(transcriber);
    }

    /**
     * The chat prompt with the speech rows spliced in at {@code <speech>}; speechKey (negative) names
     * this turn's speech so that cached positions can be matched between turns.
     */
    public Prompt prompt(NDArray speech, List<HistoryTurn> history, long speechKey) {
        return Prompt.splice(llm, tokenizer, ChatPrompt.build(history), speech, speechKey);
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
        if (transcriber != null) {
            transcriber.close();
        }
        manager.close();
    }
}
