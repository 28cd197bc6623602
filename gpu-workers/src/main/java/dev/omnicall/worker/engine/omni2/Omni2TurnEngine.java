package dev.omnicall.worker.engine.omni2;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDScope;
import dev.omnicall.model.KvPool;
import dev.omnicall.model.LlamaModel;
import dev.omnicall.model.ModelOptions;
import dev.omnicall.model.SequenceCache;
import dev.omnicall.model.omni2.FlowMatching;
import dev.omnicall.model.omni2.LengthGroups;
import dev.omnicall.model.omni2.Omni2Config;
import dev.omnicall.model.omni2.Omni2Model;
import dev.omnicall.model.omni2.TtsSampling;
import dev.omnicall.model.omni2.SpeechStream;
import dev.omnicall.model.omni2.TtsLanguageModel;
import dev.omnicall.model.omni2.TtsSchedule;
import dev.omnicall.model.omni2.TtsStream;
import dev.omnicall.worker.WorkerConfig;
import dev.omnicall.worker.engine.ConversationSnapshot;
import dev.omnicall.worker.engine.EngineSession;
import dev.omnicall.worker.engine.OmniTurnEngine;
import dev.omnicall.worker.engine.PrefillSlicing;
import dev.omnicall.worker.engine.StepOutput;
import dev.omnicall.worker.engine.TurnEngine;
import dev.omnicall.worker.engine.TurnInput;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@link TurnEngine} for LLaMA-Omni2 ({@link Omni2Model}): per turn, log-mel + Whisper encoder + adaptor and the
 * Qwen2 prefill at {@link #start}; then one text token per {@link #step}, greedy; after every R text tokens the new
 * (state, token) pairs are fused and the TTS LM writes up to W units ({@code stream_params}); when the text ends
 * the rest and {@code <sep>} go in and the TTS LM runs to its end token or the final cap; the units go through the
 * flow and HiFT ({@code SpeechStream}) as they are written, out as 24 kHz chunks. See {@link Omni2Session}.
 *
 * <p>Multi-turn the LLaMA-Omni2 way: earlier caller turns go into the prompt as speech (each {@code <speech>} its
 * own rows; a turn whose audio the request no longer carries goes in as text), assistant turns as text. A turn's
 * LLM cache is kept for the call's next turn ({@link EngineSession#keep()}), which reuses the longest prefix of its
 * prompt found there, so a call that stays on this worker re-encodes no earlier speech; after a move the history's
 * audio carried in the TurnRequest is encoded again. Same prompt either way (tested).
 *
 * <p>Batching across turns ({@link Pools}, as LLaMA-Omni's engine): each step first takes every session's pending
 * token and hands (state, token) to its TTS LM; the writes due at this step run their TTS LM steps together
 * ({@link TtsLanguageModel#writeAll}: the streams in slots of the TTS pool in one pooled forward per row count and
 * LM step, one candidate head and argmax for all); the units of all sessions go through flow + HiFT together
 * ({@link SpeechStream#stepAll}: the pushes, then the finishes, each stage one padded forward per batch of rows of
 * similar length, {@link LengthGroups}: one batch when the rows' lengths are close, a few when they are not, at most
 * {@value LengthGroups#DEFAULT_MAX_GROUPS} by default); then one {@link LlamaModel#decode} runs the LLM over
 * the tokens of all sessions still running (the pooled ones attend together). A call keeps its LLM slot between turns (parked, LRU-evicted for a newcomer); a turn that finds no
 * free slot, or whose prompt + {@code max-new-tokens} does not fit one, runs with a cache of its own in the same
 * calls; a reply whose TTS context does not fit (or finds no TTS slot) steps its TTS LM alone. Without pools every
 * session steps alone (the reference; same tokens, units and audio, tested).
 *
 * <p>Chunked prefill ({@link #begin}, as LLaMA-Omni's engine, through the shared {@link PrefillSlicing}): a newcomer's
 * encoder runs in slices between the steps, then its prompt rows ride in the steps' LLM forward (or run in slices
 * apart); {@link #start} is the one-shot reference.
 *
 * <p>Not yet: caller transcription (the checkpoint has no Whisper decoder). Not thread-safe: the worker calls it from
 * its engine thread only.
 */
public final class Omni2TurnEngine implements TurnEngine {
    private static final Logger LOG = LoggerFactory.getLogger(Omni2TurnEngine.class);

    /** System property: the TTS LM's cap after the text ended (default the reference's 1024). */
    public static final String FINAL_CAP_KEY = "omnicall.worker.omni2.tts-final-cap";
    /** System property: R and W as "(R,W)", config.json's {@code stream_params} form (default: the checkpoint's). */
    public static final String STREAM_PARAMS_KEY = "omnicall.worker.omni2.stream-params";
    /**
     * System property: the TTS LM's token choice, over units + end either way: {@code greedy} (default) or
     * {@code sampled:SEED[:TEMPERATURE]} (temperature 1 by default, as the reference samples; the same seed for
     * every reply).
     */
    public static final String TTS_SAMPLING_KEY = "omnicall.worker.omni2.tts-sampling";
    /** System property: the decoder directory (default {@code <model-dir>/cosy2_decoder}). */
    public static final String DECODER_DIR_KEY = "omnicall.worker.omni2.decoder-dir";

    /**
     * The schedule (R, W, final cap), the TTS token choice, the reply's token limit and its speech limit in units
     * ({@code maxReplyUnits}; the flow noise's length, {@link FlowMatching#MAX_FRAMES} / 2 = 7500 units, 300 s, is
     * the most it can be: a reply that reaches it ends there with its final chunk).
     */
    public record Options(TtsSchedule schedule, TtsSampling sampling, int maxNewTokens, int maxReplyUnits) {
        /** The published limit: the flow noise's frames / 2 frames per unit. */
        public static final int FLOW_NOISE_UNITS = FlowMatching.MAX_FRAMES / 2;

        public Options {
            if (maxNewTokens < 1) {
                throw new IllegalArgumentException("max new tokens must be >= 1, got " + maxNewTokens);
            }
            if (maxReplyUnits < 1) {
                throw new IllegalArgumentException("max reply units must be >= 1, got " + maxReplyUnits);
            }
        }

        /** With the flow noise's limit. */
        public Options(TtsSchedule schedule, TtsSampling sampling, int maxNewTokens) {
            this(schedule, sampling, maxNewTokens, FLOW_NOISE_UNITS);
        }

        /** The same with a reply's speech limited to {@code units} (tests; at most the flow noise's). */
        public Options withMaxReplyUnits(int units) {
            return new Options(schedule, sampling, maxNewTokens, units);
        }

        /** The checkpoint's {@code stream_params}, greedy TTS restricted to units and end. */
        public static Options of(Omni2Config config, int finalCap, int maxNewTokens) {
            return new Options(config.schedule(finalCap), TtsSampling.greedy(), maxNewTokens);
        }

        /**
         * The options from the worker's settings ({@value #FINAL_CAP_KEY}, {@value #STREAM_PARAMS_KEY},
         * {@value #TTS_SAMPLING_KEY}; absent: the checkpoint's {@code stream_params}, the reference's cap 1024,
         * greedy). A value that does not parse is one error naming its key.
         */
        public static Options fromSettings(Omni2Config config, int maxNewTokens, java.util.Properties settings) {
            int cap = Omni2Config.FINAL_TTS_CAP;
            String capText = settings.getProperty(FINAL_CAP_KEY);
            TtsSchedule schedule;
            TtsSampling sampling;
            try {
                if (capText != null && !capText.isBlank()) {
                    cap = Integer.parseInt(capText.strip());
                }
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(FINAL_CAP_KEY + " '" + capText + "' is not a whole number", e);
            }
            String params = settings.getProperty(STREAM_PARAMS_KEY);
            try {
                schedule = params == null || params.isBlank() ? config.schedule(cap)
                        : TtsSchedule.parseStreamParams(params, cap);
            } catch (IllegalArgumentException e) {
                String key = params == null || params.isBlank() ? FINAL_CAP_KEY : STREAM_PARAMS_KEY + "/" + FINAL_CAP_KEY;
                throw new IllegalArgumentException(key + ": " + e.getMessage(), e);
            }
            String samplingText = settings.getProperty(TTS_SAMPLING_KEY);
            try {
                sampling = samplingText == null || samplingText.isBlank() ? TtsSampling.greedy()
                        : TtsSampling.parse(samplingText);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(TTS_SAMPLING_KEY + ": " + e.getMessage(), e);
            }
            return new Options(schedule, sampling, maxNewTokens);
        }
    }

    /**
     * The engine's KV memory on the device: the LLM's pool (running turns, and calls' caches kept between turns) and
     * the TTS LM's (running turns only; a reply's TTS context is not reused). Either may be null: its turns then run
     * with caches of their own.
     */
    public record Pools(KvPool llm, KvPool tts) implements AutoCloseable {
        /** No pools: every session steps alone on caches of its own (the reference path). */
        public static Pools none() {
            return new Pools(null, null);
        }

        /** Device bytes of both pools. */
        public long deviceBytes() {
            return (llm == null ? 0 : llm.deviceBytes()) + (tts == null ? 0 : tts.deviceBytes());
        }

        @Override
        public void close() {
            if (llm != null) {
                llm.close();
            }
            if (tts != null) {
                tts.close();
            }
        }
    }

    private final Omni2Model model;
    private final Options options;
    private final Pools pools;
    private final boolean ownsModel;
    /** The newcomers' slices ({@code prefill-slice-rows}, {@code fused-prefill}: OmniTurnEngine's keys and pacer). */
    private final PrefillSlicing<Omni2Start> slicing;
    /** How the due streams' flow + HiFT rows are cut into batches of similar length (pooled steps only). */
    private final LengthGroups lengthGroups;
    private int lastFusedRows; // prompt rows the last step carried in its LLM forward
    private RuntimeException riderFailure; // why the last step's rider could not give its rows, or null

    /** An engine over a model the caller keeps (and closes), without pools: every session steps alone. */
    public Omni2TurnEngine(Omni2Model model, Options options) {
        this(model, options, Pools.none(), LengthGroups.single(), false);
    }

    /**
     * An engine over a model and pools the caller keeps (and closes): every step runs the LLM once for all running
     * sessions ({@link LlamaModel#decode}: the pooled ones attend together, the others one by one).
     */
    public Omni2TurnEngine(Omni2Model model, Options options, Pools pools) {
        this(model, options, pools, LengthGroups.fromSystemProperties(), false);
    }

    /** The same with the flow + HiFT rows cut by {@code lengthGroups} ({@link LengthGroups#single()}: one batch). */
    Omni2TurnEngine(Omni2Model model, Options options, Pools pools, LengthGroups lengthGroups) {
        this(model, options, pools, lengthGroups, false);
    }

    private Omni2TurnEngine(Omni2Model model, Options options, Pools pools, LengthGroups lengthGroups,
            boolean ownsModel) {
        this.model = model;
        this.options = options;
        this.pools = pools;
        this.lengthGroups = lengthGroups;
        this.ownsModel = ownsModel;
        PrefillSlicing<Omni2Start> settings = PrefillSlicing.fromSystemProperties();
        // without an LLM pool the sessions step alone (the reference): no batched forward to carry prompt rows
        this.slicing = pools.llm() == null ? settings.withoutFusion() : settings;
    }

    /**
     * The worker's pools within {@code kv-cache-bytes} (OmniTurnEngine's rule, {@link OmniTurnEngine#poolSizing}, the
     * TTS LM's pool in the CTC decoder's place): the TTS LM's first, one slot per running turn ({@code max-batch}), each
     * for a whole reply's context ({@link TtsLanguageModel#contextBound}: max-new-tokens fused rows, {@code <sep>}, W
     * units per mid-reply write and the final cap); the LLM's gets the rest: slots of
     * {@value OmniTurnEngine#POOL_POSITIONS} positions (default 2048, at most the model's context), at least {@code
     * max-batch}, more while the bound holds them (up to {@value OmniTurnEngine#POOL_MAX_SLOTS}, default 4 ×
     * max-batch), shortened when it holds fewer, refused (naming the key) below 256; none when
     * {@value OmniTurnEngine#POOL_SWITCH}{@code =off} or the bound is 0. Logs the split in one line.
     */
    static Pools pools(Omni2Model model, Options options, int maxBatch, long kvCacheBytes) {
        if ("off".equalsIgnoreCase(System.getProperty(OmniTurnEngine.POOL_SWITCH, "on")) || kvCacheBytes == 0) {
            LOG.info("KV pools off ({}): every LLaMA-Omni2 turn has caches of its own and steps alone",
                    kvCacheBytes == 0 ? "kv-cache-bytes 0" : OmniTurnEngine.POOL_SWITCH + "=off");
            return Pools.none();
        }
        LlamaModel llm = model.llm();
        long ttsRows = TtsLanguageModel.contextBound(options.schedule(), options.maxNewTokens());
        long ttsBytes = maxBatch * model.tts().poolSlotBytes(ttsRows);
        long wanted = Math.min(Long.getLong(OmniTurnEngine.POOL_POSITIONS, OmniTurnEngine.DEFAULT_POOL_POSITIONS),
                model.config().maxPositionEmbeddings());
        int maxSlots = Integer.getInteger(OmniTurnEngine.POOL_MAX_SLOTS, 4 * maxBatch);
        OmniTurnEngine.PoolSizing size = OmniTurnEngine.poolSizing(kvCacheBytes, ttsBytes, "the TTS LM's pool",
                llm.poolSlotBytes(1), wanted, maxBatch, maxSlots);
        long llmBytes = size.slots() * llm.poolSlotBytes(size.positions());
        LOG.info("LLaMA-Omni2 KV memory within kv-cache-bytes {}: LLM pool {} slots x {} positions = {} MiB{} + TTS LM"
                + " pool {} slots x {} rows (a whole reply's context: max-new-tokens {}, schedule {}) = {} MiB; a turn that"
                + " does not fit runs with caches of its own", kvCacheBytes, size.slots(), size.positions(),
                llmBytes >> 20, size.positions() < wanted ? " (shortened from " + wanted + " positions)" : "", maxBatch,
                ttsRows, options.maxNewTokens(), options.schedule(), ttsBytes >> 20);
        KvPool ttsPool = model.tts().newPool(maxBatch, ttsRows);
        try {
            return new Pools(llm.newPool(size.slots(), size.positions()), ttsPool);
        } catch (RuntimeException e) {
            ttsPool.close();
            throw e;
        }
    }

    public Pools pools() {
        return pools;
    }

    /**
     * Loads the LLaMA-Omni2 checkpoint in {@code config.modelDir()} (decoder directory: {@value #DECODER_DIR_KEY},
     * default {@code cosy2_decoder} inside it) on {@code config.device()}.
     */
    public static Omni2TurnEngine load(WorkerConfig config, Path speechEncoder) {
        ModelOptions modelOptions = ModelOptions.defaults().withDevice(config.device().toString())
                .withPaddedSeconds(config.encoderPaddedSeconds()).withTranscriber(false);
        if (speechEncoder != null) {
            modelOptions = modelOptions.withSpeechEncoder(speechEncoder.toString());
        }
        String decoderDir = System.getProperty(DECODER_DIR_KEY);
        Omni2Model model = decoderDir == null || decoderDir.isBlank()
                ? Omni2Model.load(config.modelDir(), modelOptions)
                : Omni2Model.load(config.modelDir(), modelOptions, Path.of(decoderDir));
        try {
            Options options = Options.fromSettings(model.config(), config.maxNewTokens(), System.getProperties());
            if (config.transcription().enabled()) {
                LOG.info("caller transcription off: a LLaMA-Omni2 checkpoint has no Whisper decoder");
            }
            LOG.info("LLaMA-Omni2 engine: schedule {}, TTS {}, at most {} text tokens a reply; a call's KV cache kept"
                    + " between its turns", options.schedule(), options.sampling().isGreedy()
                    ? "greedy over units + end" : options.sampling() + " over units + end", options.maxNewTokens());
            LengthGroups groups = LengthGroups.fromSystemProperties();
            LOG.info("LLaMA-Omni2 flow + HiFT of the due turns batched per stage, in at most {} batches of similar"
                    + " length when more than {} of the padded rows would be padding", groups.maxGroups(),
                    groups.maxWaste());
            return new Omni2TurnEngine(model, options, pools(model, options, config.maxBatch(), config.kvCacheBytes()),
                    groups, true);
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
    }

    public Omni2Model model() {
        return model;
    }

    public Options options() {
        return options;
    }

    /**
     * The prompt (earlier caller turns as speech, assistant turns as text), its prefix reused from the call's kept
     * cache when {@code reuse} is this engine's snapshot (another kind is closed), the rest encoded and prefilled.
     */
    @Override
    public EngineSession start(TurnInput input, ConversationSnapshot reuse) {
        SequenceCache kept = null;
        if (reuse instanceof Snapshot s) {
            kept = s.take();
        } else if (reuse != null) {
            reuse.close();
        }
        return new Omni2Session(model, options, input, kept, pools.llm(), pools.tts());
    }

    /**
     * Chunked prefill, as LLaMA-Omni's engine ({@link PrefillSlicing}, {@link OmniTurnEngine#begin}): the prompt's keys,
     * the cache's place and the text rows now ({@link Omni2Start#begin}); per {@link StartingSession#advance()} a slice
     * of the encoder (each speech to encode: log-mel, convolutions, blocks cut at rows, half a step's worth at this
     * turn's measured cost), then the prompt rows: with {@value OmniTurnEngine#FUSED_PREFILL} on (the default, with an
     * LLM pool) they ride in the next step's LLM forward ({@link LlamaModel#decodeWithPrompt}), else a slice of about
     * half a step apart. {@value OmniTurnEngine#PREFILL_SLICE_ROWS}{@code =0}: the whole {@link #start} at once. Same
     * session as {@link #start} (tested).
     */
    @Override
    public StartingSession begin(TurnInput input, ConversationSnapshot reuse) {
        if (slicing.oneSlice()) {
            return TurnEngine.super.begin(input, reuse);
        }
        SequenceCache kept = null;
        if (reuse instanceof Snapshot s) {
            kept = s.take();
        } else if (reuse != null) {
            reuse.close();
        }
        Omni2Start start = Omni2Start.begin(model, options, input, kept, pools.llm());
        PrefillSlicing<Omni2Start>.Slices slices = slicing.slices(start);
        return slices.startingSession(() -> start.take(options, pools.tts()), start::close);
    }

    /** A call's LLM cache kept between its turns (the shared {@link SequenceCache}: positions and their keys). */
    static final class Snapshot implements ConversationSnapshot {
        private SequenceCache cache;
        private final long bytes;

        Snapshot(SequenceCache cache) {
            this.cache = cache;
            this.bytes = cache.deviceBytes();
        }

        SequenceCache take() {
            SequenceCache c = cache;
            cache = null;
            return c;
        }

        @Override
        public long bytes() {
            return bytes;
        }

        @Override
        public void close() {
            if (cache != null) {
                cache.close();
                cache = null;
            }
        }
    }

    /**
     * Each session advances by one text token (and what the schedule writes after it). Without pools each session
     * steps alone (the reference); with them: every session reads its token, the due TTS writes run together
     * ({@link TtsLanguageModel#writeAll}), all sessions' units through their speech streams together
     * ({@link SpeechStream#stepAll}, rows cut by length as the engine's {@link LengthGroups} say), then one
     * {@link LlamaModel#decode} runs the LLM over the tokens of the sessions still running.
     */
    @Override
    public List<StepOutput> step(List<EngineSession> batch) {
        // an armed newcomer's next prompt rows ride in this step's LLM forward
        Omni2Start riding = slicing.takeRider();
        lastFusedRows = 0;
        riderFailure = null;
        long t0 = System.nanoTime();
        List<StepOutput> out = pooledOrAlone(batch, riding);
        slicing.stepDone(riding, lastFusedRows, riderFailure, (System.nanoTime() - t0) / 1000);
        return out;
    }

    private List<StepOutput> pooledOrAlone(List<EngineSession> batch, Omni2Start riding) {
        List<StepOutput> out = new ArrayList<>(batch.size());
        if (pools.llm() == null && pools.tts() == null) {
            for (EngineSession s : batch) {
                out.add(((Omni2Session) s).step());
            }
            return out;
        }
        // every session's pending token: its text, and (state, token) to its TTS LM
        List<Omni2Session> sessions = new ArrayList<>(batch.size());
        List<TtsStream> writers = new ArrayList<>();
        boolean[] writes = new boolean[batch.size()];
        for (int i = 0; i < batch.size(); i++) {
            Omni2Session s = (Omni2Session) batch.get(i);
            sessions.add(s);
            writes[i] = s.read();
            if (writes[i]) {
                writers.add(s.tts());
            }
        }
        // the writes due this step, their TTS LM steps together
        List<TtsStream.Write> written = writers.isEmpty() ? List.of() : model.tts().writeAll(writers);
        // every session's units through its speech stream, all streams' flow + HiFT together (a few batches of rows
        // of similar length when their lengths differ a lot); audio out
        List<Omni2Session.Written> units = new ArrayList<>(batch.size());
        List<SpeechStream> streams = new ArrayList<>(batch.size());
        List<long[]> pushes = new ArrayList<>(batch.size());
        boolean[] finishes = new boolean[batch.size()];
        int w = 0;
        for (int i = 0; i < sessions.size(); i++) {
            Omni2Session.Written u = sessions.get(i).written(writes[i] ? written.get(w++) : null);
            units.add(u);
            streams.add(sessions.get(i).speech());
            pushes.add(u.units());
            finishes[i] = u.last();
        }
        List<SpeechStream.StepAudio> audio;
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            audio = SpeechStream.stepAll(streams, pushes, finishes, lengthGroups);
        }
        // then the LLM for the sessions still running
        List<Omni2Session> running = new ArrayList<>(batch.size());
        for (int i = 0; i < sessions.size(); i++) {
            StepOutput o = sessions.get(i).deliver(units.get(i), audio.get(i));
            out.add(o);
            if (!o.done()) {
                running.add(sessions.get(i));
            }
        }
        llmStep(running, riding);
        return out;
    }

    /** {@link #llmStep(List, Omni2Start)} without a rider. */
    void llmStep(List<Omni2Session> running) {
        llmStep(running, null);
    }

    /**
     * The LLM over the last token of every running session in one {@link LlamaModel#decode} (pooled sessions attend
     * together, the others one by one in the same call) and the greedy next tokens of all in one argmax; with a
     * {@code rider} (nullable), its next prompt rows in the same forward ({@link LlamaModel#decodeWithPrompt}: the
     * weights read once for both), or in a forward of their own when no session runs. A rider whose rows cannot be
     * had (its encoder's end failed) is left out and the failure kept for its next advance: the newcomer's, not the
     * speaking turns'.
     */
    void llmStep(List<Omni2Session> running, Omni2Start rider) {
        LlamaModel llm = model.llm();
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            Omni2Start.Chunk chunk = null;
            if (rider != null && !rider.isReady()) {
                try {
                    chunk = rider.nextChunk(slicing.riderRows());
                } catch (RuntimeException e) {
                    riderFailure = e;
                }
            }
            if (running.isEmpty()) {
                if (chunk != null) {
                    // nothing to ride along with: a forward of its own
                    rider.chunkDone(chunk, llm.forward(chunk.inputs(), rider.cache(), chunk.keys()));
                }
                return;
            }
            long[] tokens = new long[running.size()];
            List<SequenceCache> caches = new ArrayList<>(running.size());
            for (int i = 0; i < tokens.length; i++) {
                tokens[i] = running.get(i).lastToken();
                caches.add(running.get(i).cache());
            }
            LlamaModel.Output next;
            if (chunk != null) {
                LlamaModel.Fused fused = llm.decodeWithPrompt(tokens, caches, chunk.inputs(), rider.cache(),
                        chunk.keys());
                rider.chunkDone(chunk, fused.prompt());
                lastFusedRows = chunk.keys().length;
                next = fused.decode();
            } else {
                next = llm.decode(tokens, caches);
            }
            long[] chosen = next.lastLogits().argMax(-1).toLongArray();
            // each session's state as its own row of the batch's (one native split, not a slice per session)
            NDList states = next.hidden().split(tokens.length);
            for (int i = 0; i < tokens.length; i++) {
                running.get(i).accept(chosen[i], states.get(i));
            }
        }
    }

    /** Prompt rows the last {@link #step} carried in its LLM forward (0: none, or they ran apart). */
    int lastFusedRows() {
        return lastFusedRows;
    }

    @Override
    public void close() {
        if (ownsModel) {
            pools.close();
            model.close();
        }
    }
}
