package dev.omnicall.model.omni2;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.omnicall.model.HistoryTurn;
import dev.omnicall.model.Prompt;
import dev.omnicall.model.LlamaModel;
import dev.omnicall.model.LogMelFrontend;
import dev.omnicall.model.ModelOptions;
import dev.omnicall.model.OmniTokenizer;
import dev.omnicall.model.Ops;
import dev.omnicall.model.SpeechAdaptor;
import dev.omnicall.model.omni.SpeechEncoding;
import dev.omnicall.model.TorchThreads;
import dev.omnicall.model.WhisperEncoder;
import dev.omnicall.model.WhisperEncoderFile;
import dev.omnicall.model.config.SpeechBlocksConfig;
import dev.omnicall.model.io.PrefixRoutedSource;
import dev.omnicall.model.io.ShardedCheckpoint;
import dev.omnicall.model.io.TensorSource;
import dev.omnicall.model.io.WhisperCheckpoint;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A loaded LLaMA-Omni2 checkpoint (CHECKPOINT-OMNI2.md): the shared speech blocks (log-mel, Whisper encoder from
 * the shards or openai's file, adaptor {@code model.speech_projector.*}), the Qwen2 LLM ({@code model.*}, q/k/v
 * biases, tied head when {@code tie_word_embeddings}), the speech generator ({@code speech_generator.*}: gated
 * fusion and the TTS Qwen2, {@link TtsLanguageModel}, its ids from {@code tts_tokenizer/},
 * {@link TtsTokenizerLayout}), the tokenizer, the stop ids (config.json and
 * {@code generation_config.json} when present) and the decoder directory ({@link Cosy2Decoder}). Stateless after
 * loading: a reply's state lives in its caches and streams.
 */
public final class Omni2Model implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Omni2Model.class);
    public static final String GENERATION_CONFIG = "generation_config.json";
    /** The key of the speech rows of the turn being answered, in the LLM cache's position keys. */
    public static final long SPEECH_KEY = -1_000_000L;

    private final Omni2Config config;
    private final ModelOptions options;
    private final NDManager manager;
    private final LogMelFrontend frontend;
    private final WhisperEncoder encoder;
    private final SpeechAdaptor adaptor;
    private final LlamaModel llm;
    private final TtsLanguageModel tts;
    private final OmniTokenizer tokenizer;
    private final Set<Integer> stopIds;
    private final Cosy2Decoder decoder;

    private Omni2Model(Omni2Config config, ModelOptions options, NDManager manager, LogMelFrontend frontend,
            WhisperEncoder encoder, SpeechAdaptor adaptor, LlamaModel llm, TtsLanguageModel tts,
            OmniTokenizer tokenizer, Set<Integer> stopIds, Cosy2Decoder decoder) {
        this.config = config;
        this.options = options;
        this.manager = manager;
        this.frontend = frontend;
        this.encoder = encoder;
        this.adaptor = adaptor;
        this.llm = llm;
        this.tts = tts;
        this.tokenizer = tokenizer;
        this.stopIds = stopIds;
        this.decoder = decoder;
    }

    /** Loads {@code dir} with its decoder directory at {@code dir/cosy2_decoder}. */
    public static Omni2Model load(Path dir, ModelOptions options) {
        return load(dir, options, dir.resolve(Cosy2Decoder.DIR_NAME));
    }

    /**
     * Loads the checkpoint in {@code dir} and the decoder directory {@code decoderDir} (the published
     * {@code ICTNLP/cosy2_decoder}). A missing or misshaped tensor fails with its name and both shapes.
     */
    public static Omni2Model load(Path dir, ModelOptions options, Path decoderDir) {
        Omni2Config config = Omni2Config.read(dir);
        SpeechBlocksConfig speech = config.speechBlocks();
        try (ShardedCheckpoint shards = ShardedCheckpoint.open(dir);
                WhisperCheckpoint whisper = WhisperEncoderFile.openIfNeeded(shards, speech, dir, options)) {
            TensorSource weights = whisper == null ? shards
                    : new PrefixRoutedSource(shards, WhisperEncoder.PREFIX, whisper);
            return assemble(config, weights, dir, options, decoderDir);
        }
    }

    private static Omni2Model assemble(Omni2Config config, TensorSource weights, Path dir, ModelOptions options,
            Path decoderDir) {
        TorchThreads.ensureOffline();
        long t0 = System.nanoTime();
        TorchThreads.start(TorchThreads.AUTO, options.djlDevice().isGpu());
        NDManager manager = NDManager.newBaseManager(options.djlDevice(), Engine.getEngine("PyTorch").getEngineName());
        DataType type = options.dataType();
        OmniTokenizer tokenizer = null;
        try {
            SpeechBlocksConfig speech = config.speechBlocks();
            var convInfo = weights.info(WhisperEncoder.PREFIX + "conv1.weight");
            int nMels = convInfo == null ? 128 : (int) convInfo.shape()[1];
            LogMelFrontend frontend = new LogMelFrontend(manager, nMels, options.paddedSeconds());
            WhisperEncoder encoder = new WhisperEncoder(weights, manager, type, speech, nMels);
            SpeechAdaptor adaptor = new SpeechAdaptor(weights, manager, type, speech);
            LlamaModel llm = LlamaModel.load(weights, manager, type, config.llmSpec());
            TtsLanguageModel tts = TtsLanguageModel.load(weights, manager, type, config.speechGenerator(),
                    config.hiddenSize(), TtsTokenizerLayout.vocabulary(dir, config));
            Set<Integer> stopIds = stopIds(config, dir);
            tokenizer = OmniTokenizer.load(dir);
            Cosy2Decoder decoder = Cosy2Decoder.load(decoderDir, manager, SourcePins.defaults());
            LOG.info("loaded LLaMA-Omni2 {} (+ decoder {}) on {} as {} in {} ms; stop ids {}, stream_params {}", dir,
                    decoderDir, options.device(), type, (System.nanoTime() - t0) / 1_000_000, stopIds,
                    config.schedule(Omni2Config.FINAL_TTS_CAP));
            return new Omni2Model(config, options, manager, frontend, encoder, adaptor, llm, tts, tokenizer, stopIds,
                    decoder);
        } catch (RuntimeException e) {
            if (tokenizer != null) {
                tokenizer.close();
            }
            manager.close();
            throw e;
        }
    }

    /**
     * The LLM's stop ids: config.json's {@code eos_token_id} and, when the checkpoint ships
     * {@code generation_config.json}, its {@code eos_token_id} (Qwen2.5-Instruct's: {@code <|im_end|>} and
     * {@code <|endoftext|>}). Decoding stays greedy: a {@code repetition_penalty} there is logged, not applied.
     */
    static Set<Integer> stopIds(Omni2Config config, Path dir) {
        Set<Integer> ids = new LinkedHashSet<>(config.eosTokenId());
        Path file = dir.resolve(GENERATION_CONFIG);
        if (!Files.isRegularFile(file)) {
            return ids;
        }
        JsonObject root;
        try {
            root = JsonParser.parseString(Files.readString(file)).getAsJsonObject();
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException("cannot read " + file + ": " + e.getMessage(), e);
        }
        JsonElement eos = root.get("eos_token_id");
        if (eos != null && !eos.isJsonNull()) {
            List<JsonElement> values = new ArrayList<>();
            if (eos.isJsonArray()) {
                eos.getAsJsonArray().forEach(values::add);
            } else {
                values.add(eos);
            }
            for (JsonElement v : values) {
                int id = v.getAsInt();
                if (id < 0 || id >= config.vocabSize()) {
                    throw new IllegalArgumentException(file + ": eos_token_id " + id + " is outside vocab_size "
                            + config.vocabSize());
                }
                ids.add(id);
            }
        }
        JsonElement penalty = root.get("repetition_penalty");
        if (penalty != null && penalty.isJsonPrimitive() && penalty.getAsDouble() != 1.0) {
            LOG.info("{} sets repetition_penalty {}; this runtime decodes greedily without it (transformers would"
                    + " apply it even in greedy mode)", file, penalty.getAsDouble());
        }
        return ids;
    }

    /** 16 kHz audio in [-1, 1] → speech embeddings [rows, H]: log-mel, encoder, adaptor. */
    public NDArray encodeSpeech(float[] audio16k) {
        return Ops.scoped(() -> adaptor.forward(encoder.forward(frontend.forward(manager, audio16k))));
    }

    /**
     * {@link #encodeSpeech} in slices (a newcomer's chunked prefill): nothing runs yet; the log-mel, the encoder's
     * convolutions and its blocks run in the {@link SpeechEncoding}'s slices, and {@link #adapt} of its output gives
     * {@code encodeSpeech(audio16k)} (to the bit in whole blocks). The caller closes it.
     */
    public SpeechEncoding beginEncoding(float[] audio16k) {
        return new SpeechEncoding(manager, frontend, encoder, audio16k);
    }

    /** Encoder output [frames, n_audio_state] → speech embeddings [rows, H] (the adaptor). */
    public NDArray adapt(NDArray encoderOut) {
        return Ops.scoped(() -> adaptor.forward(encoderOut));
    }

    /**
     * A turn's prompt against what the call's LLM cache already holds: {@code keys}, the whole prompt's position
     * keys (token ids; a speech's rows {@link #speechKey}, −1 less per row); {@code reused}, its first rows found in
     * the cache (the common prefix, at most all but the last row, which must run for the first logits); {@code rows}
     * [keys − reused, H], the embeddings of the rest, to prefill; {@code speechEncoded}, the speeches that had to
     * go through log-mel, encoder and adaptor for them (one whose rows all lie in the reused prefix is not encoded).
     */
    public record PromptPlan(long[] keys, int reused, NDArray rows, int speechEncoded) {
    }

    /**
     * Plans a turn's prompt ({@link Omni2ChatPrompt#pieces}: earlier caller turns as speech where their audio is
     * carried, assistant turns as text) against the position keys of the call's cache ({@code cachedKeys}, empty
     * for none): the keys of the whole prompt first, the reusable prefix from them, then only the rows after it are
     * embedded (text) or encoded (speech). A speech's keys are a function of its samples, so rows cached in an
     * earlier turn match exactly when the same audio comes again, and anything else (another audio, a reply whose
     * text was cut or tokenizes differently) ends the prefix there and is recomputed: the same prompt either way.
     */
    public PromptPlan plan(float[] audio16k, List<Omni2ChatPrompt.PastTurn> history, long[] cachedKeys) {
        List<PromptPiece> pieceList = promptPieces(audio16k, history);
        List<long[]> pieceKeys = pieceList.stream().map(PromptPiece::keys).toList();
        long[] keys = keysOf(pieceList);
        int total = keys.length;
        int reused = Math.min(Prompt.commonPrefix(cachedKeys, keys), total - 1);
        // the rows after the reused prefix: text embedded, speech encoded (only a speech that reaches past it)
        int encoded = 0;
        NDList parts = new NDList();
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            int start = 0;
            for (int i = 0; i < pieceList.size(); i++) {
                long[] k = pieceKeys.get(i);
                int end = start + k.length;
                if (end > reused && k.length > 0) {
                    int from = Math.max(0, reused - start);
                    float[] speechAudio = pieceList.get(i).speech16k();
                    if (speechAudio != null) {
                        NDArray speech = encodeSpeech(speechAudio);
                        encoded++;
                        if (speech.getShape().get(0) != k.length) {
                            throw new IllegalStateException("speech of " + speechAudio.length + " samples gave "
                                    + speech.getShape().get(0) + " rows, " + k.length + " expected (speechRows)");
                        }
                        parts.add(speech.get(new NDIndex("{}:", from)).toType(llm.dataType(), false));
                    } else {
                        parts.add(llm.embed(Arrays.copyOfRange(k, from, k.length)));
                    }
                }
                start = end;
            }
            NDArray rows = parts.size() == 1 ? parts.get(0) : NDArrays.concat(parts, 0);
            NDScope.unregister(rows);
            return new PromptPlan(keys, reused, rows, encoded);
        }
    }

    /**
     * One piece of a turn's prompt in order: its position keys, and for a speech its 16 kHz audio (null for text). A
     * speech's rows are known from its length ({@link #speechRows}) before it is encoded.
     */
    public record PromptPiece(long[] keys, float[] speech16k) {
    }

    /**
     * The prompt's pieces ({@link Omni2ChatPrompt#pieces}: earlier caller turns as speech where their audio is carried,
     * assistant turns as text, this turn's speech), each with its keys; nothing is embedded or encoded. {@link #plan}
     * and a start in slices both read the prompt from them.
     */
    public List<PromptPiece> promptPieces(float[] audio16k, List<Omni2ChatPrompt.PastTurn> history) {
        List<float[]> speeches = new ArrayList<>();
        for (Omni2ChatPrompt.PastTurn t : history) {
            if (t.userAudio16k() != null) {
                speeches.add(t.userAudio16k());
            }
        }
        speeches.add(audio16k);
        List<PromptPiece> out = new ArrayList<>();
        for (Omni2ChatPrompt.Piece p : Omni2ChatPrompt.pieces(history)) {
            if (p instanceof Omni2ChatPrompt.Text t) {
                out.add(new PromptPiece(tokenizer.encode(t.text()), null));
            } else {
                float[] a = speeches.get(((Omni2ChatPrompt.Speech) p).index());
                long base = speechKey(a);
                long[] k = new long[speechRows(a.length)];
                for (int i = 0; i < k.length; i++) {
                    k[i] = base - i;
                }
                out.add(new PromptPiece(k, a));
            }
        }
        return out;
    }

    /** The whole prompt's position keys: the pieces' keys one after another. */
    public static long[] keysOf(List<PromptPiece> pieces) {
        long[] keys = new long[pieces.stream().mapToInt(p -> p.keys().length).sum()];
        int at = 0;
        for (PromptPiece p : pieces) {
            System.arraycopy(p.keys(), 0, keys, at, p.keys().length);
            at += p.keys().length;
        }
        return keys;
    }

    /**
     * The position key of a speech's first row: a function of its samples (SHA-256), negative, 2^16 apart from any
     * other speech's so that its rows (key − i) never meet another's or a token id.
     */
    public static long speechKey(float[] audio16k) {
        MessageDigest sha;
        try {
            sha = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        ByteBuffer b = ByteBuffer.allocate(4 * audio16k.length);
        b.asFloatBuffer().put(audio16k);
        byte[] h = sha.digest(b.array());
        long bits = ByteBuffer.wrap(h).getLong() & ((1L << 40) - 1);
        return -1 - (bits << 16);
    }

    /** The speech rows {@link #encodeSpeech} makes of this many samples: log-mel frames / 2 (conv stride) / k. */
    public int speechRows(int samples) {
        int frames = frontend.paddedLength(samples) / LogMelFrontend.HOP;
        int encoderFrames = (frames - 1) / 2 + 1;
        return encoderFrames / config.speechBlocks().speechEncoderDsRate();
    }

    /** The chat prompt ({@link Omni2ChatPrompt}) with the speech rows where {@code <speech>} stands, history as text. */
    public Prompt prompt(NDArray speech, List<HistoryTurn> history) {
        return Prompt.splice(llm, tokenizer, Omni2ChatPrompt.build(history), speech, SPEECH_KEY);
    }

    public boolean isStop(long token) {
        return stopIds.contains((int) token);
    }

    public Set<Integer> stopIds() {
        return Set.copyOf(stopIds);
    }

    public Omni2Config config() {
        return config;
    }

    public ModelOptions options() {
        return options;
    }

    public NDManager manager() {
        return manager;
    }

    public LlamaModel llm() {
        return llm;
    }

    public TtsLanguageModel tts() {
        return tts;
    }

    public OmniTokenizer tokenizer() {
        return tokenizer;
    }

    public Cosy2Decoder decoder() {
        return decoder;
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

    @Override
    public void close() {
        tokenizer.close();
        manager.close();
    }
}
