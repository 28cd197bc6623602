package dev.omnicall.worker.engine.omni2;

import dev.omnicall.model.ModelOptions;
import dev.omnicall.model.SequenceCache;
import dev.omnicall.model.omni2.FlowMatching;
import dev.omnicall.model.omni2.Omni2Config;
import dev.omnicall.model.omni2.Omni2Model;
import dev.omnicall.model.omni2.TtsSampling;
import dev.omnicall.model.omni2.TtsSchedule;
import dev.omnicall.worker.WorkerConfig;
import dev.omnicall.worker.engine.ConversationSnapshot;
import dev.omnicall.worker.engine.EngineSession;
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
 * <p>Not yet: batching across turns (each session steps on its own, its cache its own: no {@code KvPool}), caller
 * transcription (the checkpoint has no Whisper decoder). Not thread-safe: the worker calls it from its engine
 * thread only.
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

    private final Omni2Model model;
    private final Options options;
    private final boolean ownsModel;

    /** An engine over a model the caller keeps (and closes). */
    public Omni2TurnEngine(Omni2Model model, Options options) {
        this(model, options, false);
    }

    private Omni2TurnEngine(Omni2Model model, Options options, boolean ownsModel) {
        this.model = model;
        this.options = options;
        this.ownsModel = ownsModel;
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
            LOG.info("LLaMA-Omni2 engine: schedule {}, TTS {}, at most {} text tokens a reply; turns step one by one"
                    + " (no batching); a call's KV cache kept between its turns", options.schedule(), options.sampling().isGreedy()
                    ? "greedy over units + end" : options.sampling() + " over units + end", options.maxNewTokens());
            return new Omni2TurnEngine(model, options, true);
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
        return new Omni2Session(model, options, input, kept);
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

    /** Each session advances by one text token (and what the schedule writes after it). */
    @Override
    public List<StepOutput> step(List<EngineSession> batch) {
        List<StepOutput> out = new ArrayList<>(batch.size());
        for (EngineSession s : batch) {
            out.add(((Omni2Session) s).step());
        }
        return out;
    }

    @Override
    public void close() {
        if (ownsModel) {
            model.close();
        }
    }
}
