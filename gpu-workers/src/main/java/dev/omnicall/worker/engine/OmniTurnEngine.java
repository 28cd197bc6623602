package dev.omnicall.worker.engine;

import dev.omnicall.model.HistoryTurn;
import dev.omnicall.model.KvPool;
import dev.omnicall.model.LlamaModel;
import dev.omnicall.model.LogMelFrontend;
import dev.omnicall.model.ModelOptions;
import dev.omnicall.model.omni.CallCache;
import dev.omnicall.model.omni.ChunkSchedule;
import dev.omnicall.model.omni.GenerationOptions;
import dev.omnicall.model.omni.OmniModel;
import dev.omnicall.model.omni.SpeechGenerator;
import dev.omnicall.model.omni.StepResult;
import dev.omnicall.model.omni.TurnGenerator;
import dev.omnicall.model.omni.TurnStart;
import dev.omnicall.model.stream.AudioPiece;
import dev.omnicall.model.stream.CallerDecoder;
import dev.omnicall.model.stream.CallerTranscript;
import dev.omnicall.model.stream.TranscriptionOptions;
import dev.omnicall.model.stream.PrefillPacer;
import dev.omnicall.worker.WorkerConfig;
import dev.omnicall.model.Transcriber;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * {@link TurnEngine} on the real model runtime: {@link SpeechGenerator#start} for encoder + adaptor + prefill
 * (reusing the call's {@link CallCache} prefix), {@link SpeechGenerator#stepAll} for one batched LLM forward
 * per step, CTC units and Ω-scheduled vocoder chunks per turn.
 *
 * <p>History enters the prompt as text (the model's chat template): a past turn's user audio is not
 * re-encoded; an untranscribed user turn appears as the template's placeholder.
 *
 * <p>Caller transcription (when {@code config.transcription()} is on and the checkpoint has a Whisper decoder):
 * each turn keeps its encoder output and the model's Whisper decoder turns it into the caller's words between the
 * reply's steps (never before every turn of the batch has its first audio); the finished transcript rides on a
 * {@link StepOutput}, or comes from {@link EngineSession#advanceCallerText} for a cancelled turn.
 */
public final class OmniTurnEngine implements TurnEngine {

    private static final Logger LOG = LoggerFactory.getLogger(OmniTurnEngine.class);

    /** System property: {@code off} runs every turn with a cache of its own (the per-sequence reference path). */
    public static final String POOL_SWITCH = "omnicall.worker.kv-pool";
    /** System property: positions per pool slot (prompt with history + reply); default {@value #DEFAULT_POOL_POSITIONS}. */
    public static final String POOL_POSITIONS = "omnicall.worker.kv-pool-positions";
    /** System property: most slots (default 4 × max-batch), so a large byte bound does not allocate slots unused. */
    public static final String POOL_MAX_SLOTS = "omnicall.worker.kv-pool-max-slots";
    public static final long DEFAULT_POOL_POSITIONS = 2048;
    /**
     * System property: reply tokens one CTC decoder pool slot holds ((tokens + 1) × λ frames); default {@value
     * #DEFAULT_CTC_POOL_TOKENS}, at most max-new-tokens. A reply that grows past it moves its decoder to a cache of its
     * own (same units; that cache lies outside kv-cache-bytes).
     */
    public static final String CTC_POOL_TOKENS = "omnicall.worker.ctc-pool-tokens";
    /** A typical spoken reply (~50 words, ~20 s of speech) fits; longer ones move out ({@link #CTC_POOL_TOKENS}). */
    public static final long DEFAULT_CTC_POOL_TOKENS = 64;
    /**
     * System property: prompt rows per prefill slice while other turns run (chunked prefill): {@code auto} (the
     * default: as many as cost about half a decode step, measured, {@link PrefillPacer}), a fixed count N, or 0 (the
     * whole prefill in one slice).
     */
    public static final String PREFILL_SLICE_ROWS = "omnicall.worker.prefill-slice-rows";
    /**
     * System property: {@code on} (the default) carries a newcomer's prompt rows in the next decode step's own forward
     * ({@link SpeechGenerator#stepAll} with a rider: the LLM's weights read once for the step and the rows, which cost
     * what they add to the step, {@link PrefillPacer#fusedRows}); {@code off}: each prompt slice runs as a forward of
     * its own between steps (the reference). The encoder's slices run apart either way.
     */
    public static final String FUSED_PREFILL = "omnicall.worker.fused-prefill";
    private final OmniModel model;
    private final SpeechGenerator generator;
    private final boolean ownsModel;
    /** The newcomers' slices, the pacer and the rider ({@value #PREFILL_SLICE_ROWS}, {@value #FUSED_PREFILL}). */
    private final PrefillSlicing<TurnStart> slicing = PrefillSlicing.fromSystemProperties();

    public OmniTurnEngine(SpeechGenerator generator) {
        this(generator, false);
    }

    private OmniTurnEngine(SpeechGenerator generator, boolean ownsModel) {
        this.generator = generator;
        this.model = generator.model();
        this.ownsModel = ownsModel;
    }

    static int sliceRows(String value) {
        if (value.equalsIgnoreCase("auto")) {
            return -1;
        }
        try {
            int n = Integer.parseInt(value.trim());
            if (n >= 0) {
                return n;
            }
        } catch (NumberFormatException e) {
            // below
        }
        throw new IllegalArgumentException(PREFILL_SLICE_ROWS + " must be auto, 0 (one slice) or a row count, got '"
                + value + "'");
    }

    static boolean fusedPrefill(String value) {
        if (value.equalsIgnoreCase("on")) {
            return true;
        }
        if (value.equalsIgnoreCase("off")) {
            return false;
        }
        throw new IllegalArgumentException(FUSED_PREFILL + " must be on or off, got '" + value + "'");
    }

    /** Loads the checkpoint in {@code config.modelDir()} on {@code config.device()}. */
    public static OmniTurnEngine load(WorkerConfig config) {
        return load(config, null);
    }

    /**
     * As {@link #load(WorkerConfig)}, with the Whisper encoder's openai {@code .pt} file used when the shards
     * hold no {@code model.speech_encoder.*} tensors ({@code null}: config.json's {@code speech_encoder}).
     */
    public static OmniTurnEngine load(WorkerConfig config, java.nio.file.Path speechEncoder) {
        // transcription off: the model does not even read the Whisper decoder's weights
        ModelOptions options = ModelOptions.defaults().withDevice(config.device().toString())
                .withPaddedSeconds(config.encoderPaddedSeconds()).withTranscriber(config.transcription().enabled());
        if (speechEncoder != null) {
            options = options.withSpeechEncoder(speechEncoder.toString());
        }
        OmniModel model = OmniModel.load(config.modelDir(), options);
        try {
            CallerDecoder decoder = callerDecoder(model, config);
            KvPools pools = pools(model, config);
            return new OmniTurnEngine(new SpeechGenerator(model, generationOptions(config), decoder, pools.llm(),
                    pools.ctc()), true);
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
    }

    /** The worker's KV memory on the device: the LLM's pool and the CTC unit decoder's; both null when pooling is off. */
    record KvPools(KvPool llm, KvPool ctc) {

        /** Device bytes of both pools together. */
        long deviceBytes() {
            return (llm == null ? 0 : llm.deviceBytes()) + (ctc == null ? 0 : ctc.deviceBytes());
        }
    }

    /**
     * The worker's KV pools, all of them together within {@code kv-cache-bytes}, or none when switched off
     * ({@value #POOL_SWITCH}{@code =off}) or when {@code kv-cache-bytes} is 0 (every turn then has caches of its own,
     * nothing is kept). The CTC unit decoder's pool is taken first: one slot per running turn ({@code max-batch}), each
     * for a typical reply, ({@value #CTC_POOL_TOKENS} (default {@value #DEFAULT_CTC_POOL_TOKENS}, at most {@code
     * max-new-tokens}) + 1) × λ frames; a reply that outgrows its slot moves its decoder to a cache of its own and goes
     * on alone with the same units (before, every slot held max-new-tokens: at Llama-3.1-8B-Omni shapes, max-batch 8 and
     * 256 tokens, 1.57 GiB of a 2 GiB bound). The LLM's pool gets the rest ({@link #poolSizing}): slots × layers × KV heads ×
     * positions × head size × 2 bytes, at least {@code max-batch} slots of {@value #POOL_POSITIONS} positions (default
     * 2048, at most the model's context), more while the rest holds them (up to {@value #POOL_MAX_SLOTS}, default 4 ×
     * max-batch; they keep calls' caches between turns, LRU); a rest too small for {@code max-batch} full slots
     * shortens the slots, one too small for {@value #MIN_POOL_POSITIONS} positions each is refused at start-up, naming
     * the key. Logs the split in one line.
     */
    static KvPools pools(OmniModel model, WorkerConfig config) {
        if ("off".equalsIgnoreCase(System.getProperty(POOL_SWITCH, "on"))) {
            LOG.info("KV pools off ({}=off): every turn has caches of its own and attends alone", POOL_SWITCH);
            return new KvPools(null, null);
        }
        if (config.kvCacheBytes() == 0) {
            LOG.info("KV pools off (kv-cache-bytes 0): every turn has caches of its own and attends alone");
            return new KvPools(null, null);
        }
        LlamaModel llm = model.llm();
        long ctcTokens = ctcSlotTokens(config.maxNewTokens());
        long frames = (ctcTokens + 1L) * model.ctc().upsampleFactor();
        long ctcBytes = config.maxBatch() * model.ctc().poolSlotBytes(frames);
        long wanted = Math.min(Long.getLong(POOL_POSITIONS, DEFAULT_POOL_POSITIONS),
                model.config().maxPositionEmbeddings());
        int maxSlots = Integer.getInteger(POOL_MAX_SLOTS, 4 * config.maxBatch());
        PoolSizing size = poolSizing(config.kvCacheBytes(), ctcBytes, llm.poolSlotBytes(1), wanted, config.maxBatch(),
                maxSlots);
        long llmBytes = size.slots() * llm.poolSlotBytes(size.positions());
        LOG.info("KV memory within kv-cache-bytes {}: LLM pool {} slots x {} positions = {}{} + CTC decoder pool {} slots"
                + " x {} frames (({} reply tokens + 1) x {}) = {}; {} in all (max-batch {}, at most {} LLM slots); a turn"
                + " that does not fit, or a reply that outgrows its CTC slot, runs with caches of its own",
                mib(config.kvCacheBytes()), size.slots(), size.positions(), mib(llmBytes), size.positions() < wanted
                        ? " (shortened from " + wanted + " positions)" : "", config.maxBatch(), frames, ctcTokens,
                model.ctc().upsampleFactor(),
                mib(ctcBytes), mib(llmBytes + ctcBytes), config.maxBatch(), maxSlots);
        KvPool llmPool = llm.newPool(size.slots(), size.positions());
        try {
            return new KvPools(llmPool, model.ctc().newPool(config.maxBatch(), frames));
        } catch (RuntimeException e) {
            llmPool.close();
            throw e;
        }
    }

    /** Reply tokens a CTC pool slot holds: {@value #CTC_POOL_TOKENS} (default {@value #DEFAULT_CTC_POOL_TOKENS}), at most maxNewTokens. */
    static long ctcSlotTokens(int maxNewTokens) {
        long tokens = Long.getLong(CTC_POOL_TOKENS, DEFAULT_CTC_POOL_TOKENS);
        if (tokens < 1) {
            throw new IllegalArgumentException("-D" + CTC_POOL_TOKENS + " must be >= 1, got " + tokens);
        }
        return Math.min(tokens, maxNewTokens);
    }

    private static String mib(long bytes) {
        return String.format(java.util.Locale.ROOT, "%.1f MiB", bytes / (double) (1L << 20));
    }

    /** The fewest positions a pool slot may be shortened to before the sizing refuses the byte bound. */
    static final long MIN_POOL_POSITIONS = 256;

    /** A KV pool's shape: slots of positions each. */
    public record PoolSizing(int slots, long positions) {
    }

    /** {@link #poolSizing(long, long, long, long, int, int)} with nothing else in the bound. */
    static PoolSizing poolSizing(long boundBytes, long bytesPerPosition, long wantedPositions, int maxBatch,
            int maxSlots) {
        return poolSizing(boundBytes, 0, bytesPerPosition, wantedPositions, maxBatch, maxSlots);
    }

    /**
     * The LLM pool's shape within {@code boundBytes} less {@code reservedBytes} (the other pools'): {@code
     * wantedPositions} per slot and as many slots as that holds, at least {@code maxBatch} (one per running turn) and
     * at most {@code max(maxSlots, maxBatch)}; when it holds fewer than {@code maxBatch} such slots, {@code maxBatch}
     * slots of as many positions as fit (at least {@value #MIN_POOL_POSITIONS}, or the wanted count when that is
     * smaller), else an error naming the key and the bound that would do. Always reservedBytes + slots × positions ×
     * bytesPerPosition ≤ boundBytes. LLaMA-Omni2's engine sizes its LLM pool with it too (after its TTS LM's pool).
     */
    static PoolSizing poolSizing(long boundBytes, long reservedBytes, long bytesPerPosition, long wantedPositions,
            int maxBatch, int maxSlots) {
        return poolSizing(boundBytes, reservedBytes, "the CTC unit decoder's pool", bytesPerPosition, wantedPositions,
                maxBatch, maxSlots);
    }

    /** As above; {@code reservedWhat} names the other pool in the refusal (e.g. "the TTS LM's pool"). */
    public static PoolSizing poolSizing(long boundBytes, long reservedBytes, String reservedWhat, long bytesPerPosition,
            long wantedPositions, int maxBatch, int maxSlots) {
        long available = Math.max(0, boundBytes - reservedBytes);
        long slotBytes = bytesPerPosition * wantedPositions;
        long byBound = available / slotBytes;
        if (byBound >= maxBatch) {
            return new PoolSizing((int) Math.min(byBound, Math.max(maxSlots, maxBatch)), wantedPositions);
        }
        long positions = available / ((long) maxBatch * bytesPerPosition);
        long least = Math.min(MIN_POOL_POSITIONS, wantedPositions);
        if (positions < least) {
            throw new IllegalArgumentException(WorkerConfig.PREFIX + "kv-cache-bytes " + boundBytes + " holds "
                    + positions + " KV positions for each of max-batch " + maxBatch + " running turns (" + bytesPerPosition
                    + " bytes a position" + (reservedBytes > 0 ? ", after " + reservedBytes + " bytes of " + reservedWhat
                            : "") + "); a pool slot needs at least " + least
                    + ": raise kv-cache-bytes to " + (reservedBytes + (long) maxBatch * bytesPerPosition * least)
                    + " or more, lower max-batch" + (reservedBytes > 0 ? " or max-new-tokens" : "") + ", or set -D"
                    + POOL_SWITCH + "=off");
        }
        return new PoolSizing(maxBatch, positions);
    }

    /**
     * The worker's Ω schedule, token limit and transcription settings on the model's streaming defaults (seam
     * context and crossfade).
     */
    public static GenerationOptions generationOptions(WorkerConfig config) {
        String omega = String.join(",", config.omegaSchedule().stream().map(String::valueOf).toList());
        return GenerationOptions.defaults().withSchedule(ChunkSchedule.parse(omega))
                .withMaxNewTokens(config.maxNewTokens()).withTranscription(config.transcription());
    }

    /**
     * The model's Whisper decoder as the turns' caller decoder, or null (transcription off, or a checkpoint without a
     * decoder), saying which in one log line at start-up.
     */
    static CallerDecoder callerDecoder(OmniModel model, WorkerConfig config) {
        TranscriptionOptions t = config.transcription();
        if (!t.enabled()) {
            LOG.info("caller transcription off ({}enabled=false): no caller-text records", WorkerConfig.TRANSCRIBE);
            return null;
        }
        Optional<Transcriber> transcriber = model.transcriber();
        if (transcriber.isEmpty()) {
            LOG.info("caller transcription off: the checkpoint in {} has no Whisper decoder with its vocabulary (the"
                    + " model's 'transcriber: none' line says why); replies run as before, no caller-text records",
                    config.modelDir());
            return null;
        }
        if (t.language() != null && !transcriber.get().tokenizer().languages().contains(t.language())) {
            throw new IllegalArgumentException(WorkerConfig.TRANSCRIBE + "language '" + t.language() + "' is not one"
                    + " of the decoder's languages " + transcriber.get().tokenizer().languages() + " (or auto)");
        }
        LOG.info("caller transcription on: language {}, at most {} tokens per utterance, {} decoder tokens per reply"
                + " step while no turn is queued, starting or without its first audio, beam search over {}",
                t.languageOrAuto(), Math.min(t.maxTokens(), transcriber.get().maxTokens()), t.tokensPerStep(),
                t.beams() == 1 ? "1 hypothesis (greedy)"
                        : t.beams() + " hypotheses, length penalty " + t.lengthPenalty());
        return CallerDecoder.of(transcriber.get(), t.beams(), t.lengthPenalty());
    }

    public SpeechGenerator generator() {
        return generator;
    }

    @Override
    public EngineSession start(TurnInput input, ConversationSnapshot reuse) {
        CallCache kept = keptCache(reuse);
        return new Session(generator.start(input.pcm16k(), history(input), kept));
    }

    /** The call's cache kept from its last turn, when the snapshot is this engine's; any other snapshot is closed. */
    private static CallCache keptCache(ConversationSnapshot reuse) {
        if (reuse instanceof Snapshot s) {
            return s.cache;
        }
        if (reuse != null) {
            reuse.close();
        }
        return null;
    }

    /**
     * Chunked prefill: the prompt and the cache now ({@link SpeechGenerator#begin}); then per
     * {@link StartingSession#advance()} the encoder (with {@code auto}: the log-mel, the convolutions, then its blocks
     * cut at rows, a sixteenth of a block's rows first, then as many as cost about half a decode step at this turn's
     * measured cost, {@link EncoderSlices}; one block per slice with a fixed row count), and after it at most
     * {@value #PREFILL_SLICE_ROWS} prompt rows (default {@code auto}: about half a decode step's worth,
     * {@link PrefillPacer}; 0 = the encoder and the whole prefill in one slice); {@link StartingSession#finish()}
     * the rest at once. With {@value #FUSED_PREFILL} on (the default) an advance in the prompt's phase runs nothing: it
     * arms the start, and the next {@link #step} carries its next rows in the decode forward (auto: as many as add
     * about half a step, {@link PrefillPacer#fusedRows}); an advance with no step since the last one (nobody speaks)
     * runs the rows as a slice of their own. Same turn as {@link #start}.
     */
    @Override
    public StartingSession begin(TurnInput input, ConversationSnapshot reuse) {
        CallCache kept = keptCache(reuse);
        TurnStart start = generator.begin(LogMelFrontend.pcmToFloat(input.pcm16k()), history(input), kept);
        PrefillSlicing<TurnStart>.Slices slices = slicing.slices(start);
        return slices.startingSession(() -> new Session(start.take()), start::close);
    }

    private static List<HistoryTurn> history(TurnInput input) {
        List<HistoryTurn> history = new ArrayList<>(input.history().size());
        for (TurnInput.PastTurn t : input.history()) {
            history.add(new HistoryTurn(t.userText(), t.assistantText()));
        }
        return history;
    }

    /** One step; a reply that ends finishes its caller transcript in this step (a driver without a tail). */
    @Override
    public List<StepOutput> step(List<EngineSession> batch) {
        return step(batch, SpeechGenerator.DecoderWork.SLICE_FINISH_AT_DONE);
    }

    /**
     * One step as the worker's scheduler drives it: no decoder work while it says a turn is queued or starting,
     * else {@code tokensPerStep} per turn (once every turn of the batch has its first audio), the rest of an ended
     * reply's transcript left to the scheduler's tail, a few tokens per loop.
     */
    @Override
    public List<StepOutput> step(List<EngineSession> batch, boolean decoderMayRun) {
        return step(batch, decoderMayRun ? SpeechGenerator.DecoderWork.SLICE : SpeechGenerator.DecoderWork.HOLD);
    }

    private List<StepOutput> step(List<EngineSession> batch, SpeechGenerator.DecoderWork decoderWork) {
        List<TurnGenerator> turns = new ArrayList<>(batch.size());
        for (int i = 0; i < batch.size(); i++) {
            Session s = (Session) batch.get(i);
            turns.add(s.turn);
        }
        // an armed newcomer's next prompt rows ride in this step's forward
        TurnStart riding = slicing.takeRider();
        int riderRows = riding == null ? 0 : slicing.riderRows();
        long t0 = System.nanoTime();
        List<StepResult> results = generator.stepAll(turns, decoderWork, riding, Math.max(1, riderRows));
        long tookUs = (System.nanoTime() - t0) / 1000;
        slicing.stepDone(riding, generator.lastFusedRows(), generator.lastRiderFailure(), tookUs);
        List<StepOutput> out = new ArrayList<>(results.size());
        for (int i = 0; i < results.size(); i++) {
            StepResult r = results.get(i);
            List<StepOutput.AudioPiece> audio = new ArrayList<>(r.audio().size());
            int vocodedUnits = 0;
            for (AudioPiece p : r.audio()) {
                audio.add(new StepOutput.AudioPiece(p.pcmBytes(), p.sampleRate(), p.unitCount(), p.textChars()));
                vocodedUnits += p.unitCount();
            }
            // Units count once they leave the CTC decoder as a vocoder chunk (Ω reached), as the timing stamp says.
            out.add(new StepOutput(r.text(), vocodedUnits, audio, r.done(), callerText(r.callerText())));
        }
        return out;
    }

    static StepOutput.CallerText callerText(CallerTranscript t) {
        return t == null ? null : new StepOutput.CallerText(t.text(), t.language(), t.tokenCount(), t.truncated(),
                t.decodeStartUs(), t.decodeDoneUs(), t.decodeCpuUs(), t.error());
    }

    @Override
    public void close() {
        if (generator.pool() != null && ownsModel) {
            generator.pool().close();
        }
        if (generator.ctcPool() != null && ownsModel) {
            generator.ctcPool().close();
        }
        if (ownsModel) {
            model.close();
        }
    }

    private static final class Session implements EngineSession {
        final TurnGenerator turn;

        Session(TurnGenerator turn) {
            this.turn = turn;
        }

        @Override
        public boolean reusedSnapshot() {
            return turn.reusedPositions() > 0;
        }

        @Override
        public long firstUnitsUs() {
            return turn.stamps().firstUnitsUs();
        }

        @Override
        public long firstAudioUs() {
            return turn.stamps().firstAudioUs();
        }

        @Override
        public boolean done() {
            return turn.isDone();
        }

        @Override
        public boolean callerTextPending() {
            return turn.hasCallerTextPending();
        }

        @Override
        public StepOutput.CallerText advanceCallerText(int tokens) {
            return callerText(turn.advanceCallerText(tokens));
        }

        @Override
        public int callerTokensLeft() {
            return turn.hasCallerTextPending() ? turn.callerTokensLeft() : 0;
        }

        @Override
        public ConversationSnapshot keep() {
            CallCache cache = turn.takeCache();
            return cache == null ? null : new Snapshot(cache);
        }

        @Override
        public void close() {
            turn.close();
        }
    }

    private static final class Snapshot implements ConversationSnapshot {
        final CallCache cache;

        Snapshot(CallCache cache) {
            this.cache = cache;
        }

        @Override
        public long bytes() {
            return cache.deviceBytes();
        }

        @Override
        public void close() {
            cache.close();
        }
    }
}
