package dev.omnicall.app.config;

import dev.omnicall.model.ModelFamily;
import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;
import io.smallrye.config.WithName;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Every {@code omnicall.*} key of {@code application.properties}, typed. Types are checked by SmallRye
 * Config when the app starts (a port that is not a number names its key); ranges and combinations are
 * checked by {@link ConfigCheck}, which lists every problem at once. {@code kafka.*} keys are not here:
 * they pass through to the Kafka clients unchanged (see {@link KafkaProperties}).
 */
@ConfigMapping(prefix = "omnicall")
public interface OmniCallConfig {

    /** Roles this process runs. */
    @WithDefault("bridge,worker,streams")
    Set<Role> roles();

    /** Names this instance in events and consumer client ids. */
    @WithDefault("local")
    String instanceId();

    Kafka kafka();

    Serde serde();

    Model model();

    Worker worker();

    Sip sip();

    Rtp rtp();

    Vad vad();

    Streams streams();

    Bridge bridge();

    Dashboard dashboard();

    interface Kafka {
        /** One partition count for every call-keyed topic. */
        @WithDefault("6")
        int partitions();

        @WithDefault("1")
        short replicationFactor();

        /** Create missing topics at start-up (off where an operator such as Strimzi owns them). */
        @WithDefault("true")
        boolean createTopics();

        Embedded embedded();

        interface Embedded {
            /** Log directory of the embedded broker; empty for a temporary one deleted on shutdown. */
            Optional<Path> dir();

            /** Client port; 0 picks a free one. */
            @WithDefault("9092")
            int port();

            /** KRaft controller port; 0 picks a free one. */
            @WithDefault("0")
            int controllerPort();
        }
    }

    interface Serde {
        /** embedded, apicurio or confluent. */
        @WithDefault("embedded")
        String kind();

        Optional<String> registryUrl();
    }

    interface Model {
        /**
         * The checkpoint directory. Unset: the demo model in {@code demo-model/checkpoint} under the working directory
         * when it is there, else the tiny random checkpoint in {@code .omnicall/tiny-model}, or with
         * {@link #family()} llama-omni2 the tiny LLaMA-Omni2 one in {@code .omnicall/tiny-omni2} (see {@code ModelChoice}).
         */
        Optional<Path> dir();

        /**
         * The model family, {@code llama-omni} or {@code llama-omni2}. Unset: the zero-setup run answers with
         * LLaMA-Omni (the demo model, else its tiny checkpoint) and a configured checkpoint's config.json
         * {@code model_type} decides alone. Set: with no {@link #dir()}, the tiny checkpoint of that family
         * ({@code .omnicall/tiny-omni2} for LLaMA-Omni2); an empty {@link #dir()} gets that family's tiny checkpoint;
         * a checkpoint of the other family stops the start, naming both.
         */
        Optional<ModelFamily> family();

        /** cpu or gpu:N. */
        @WithDefault("cpu")
        String device();

        /** Units per audio chunk: one number, or a schedule. */
        @WithDefault("10,20,40,80")
        List<Integer> omega();

        @WithDefault("256")
        int maxNewTokens();

        /**
         * Log-mel input length: 30 pads every utterance to 30 s as the reference model does; 0 encodes its own length.
         * Unset: 0 for the demo model (trained at natural length), 30 for every other checkpoint.
         */
        Optional<Double> encoderPaddedSeconds();

        /**
         * The Whisper encoder's openai file ({@code large-v3.pt}), used only when the checkpoint's shards hold no
         * {@code model.speech_encoder.*} tensors; unset: config.json's {@code speech_encoder}, relative to {@link #dir()}.
         */
        Optional<Path> speechEncoder();

        /** Write a tiny random checkpoint into {@link #dir()} when it holds none (zero-setup run only). */
        @WithDefault("true")
        boolean writeTinyIfMissing();
    }

    interface Worker {
        @WithDefault("8")
        int maxBatch();

        @WithDefault("2147483648")
        long kvCacheBytes();

        /**
         * On shutdown (a rollout, a scale-in) the worker stops taking turns and lets the ones it runs finish for
         * at most this long; unfinished ones go to the partition's next owner. PT0S: stop at once. Keep it below
         * the pod's termination grace period.
         */
        @WithDefault("PT30S")
        Duration drainTimeout();

        /**
         * Torch's operator threads ({@code TorchThreads} in gpu-workers): {@code auto} is one intra-op and one
         * inter-op thread on CPU (the worker shares the cores with every other role) and DJL's default on a GPU; N
         * is N intra-op threads. {@code -Dai.djl.pytorch.num_threads} / {@code num_interop_threads} win.
         */
        @WithDefault("auto")
        String torchThreads();

        /**
         * Real-time admission (gpu-workers' {@code TurnScheduler}): a newcomer starts only while every speaking turn
         * is this many ms of audio ahead of its playback, otherwise the worker pauses {@code turn-requests}.
         * {@code auto} (unset): 400 ms on a GPU, off on the CPU (gpu-workers' {@code AdmissionMargin} says why);
         * {@code off}; or N >= 0. Handed to the worker as {@code -Domnicall.worker.admission-margin-ms}.
         */
        Optional<String> admissionMarginMs();

        /**
         * The chunked-prefill gap bound: {@code on} lets at most one slice of a newcomer's start fall between two
         * audio chunks of any speaking turn; {@code off} (the worker's default) runs a slice every loop. Handed to the
         * worker as {@code -Domnicall.worker.prefill-gap-bound}.
         */
        Optional<String> prefillGapBound();

        /**
         * The margin-aware form of that bound: a newcomer's slice is held back only by a speaking turn less than this
         * many ms of audio ahead of its playback (turns further ahead let any number through). Set, it replaces
         * {@link #prefillGapBound()}. Handed to the worker as {@code -Domnicall.worker.prefill-gap-margin-ms}.
         */
        Optional<Long> prefillGapMarginMs();

        /**
         * A newcomer's prompt rows in the next decode step's own forward: {@code on} (the worker's default) or
         * {@code off} (each prompt slice a forward of its own between steps). Handed to the worker as
         * {@code -Domnicall.worker.fused-prefill}.
         */
        Optional<String> fusedPrefill();

        /**
         * Prompt rows per prefill slice while other turns run: {@code auto} (the worker's default: about half a decode
         * step's worth, measured), 0 (the whole prefill in one slice) or N rows. Handed to the worker as
         * {@code -Domnicall.worker.prefill-slice-rows}.
         */
        Optional<String> prefillSliceRows();

        /**
         * The batched KV pools: {@code on} (the worker's default) or {@code off} (every turn with caches of its own,
         * the per-sequence reference path). Handed to the worker as {@code -Domnicall.worker.kv-pool}.
         */
        Optional<String> kvPool();

        /**
         * Positions per LLM pool slot (the worker's default 2048, at most the model's context). Handed to the worker
         * as {@code -Domnicall.worker.kv-pool-positions}.
         */
        Optional<Long> kvPoolPositions();

        /** Most LLM pool slots (the worker's default 4 × max-batch): {@code -Domnicall.worker.kv-pool-max-slots}. */
        Optional<Integer> kvPoolMaxSlots();

        /**
         * Reply tokens one CTC decoder pool slot holds (the worker's default 64; a longer reply moves its decoder to a
         * cache of its own). Handed to the worker as {@code -Domnicall.worker.ctc-pool-tokens}.
         */
        Optional<Long> ctcPoolTokens();

        /** Caller transcription: Whisper's decoder on the encoder output each turn already computed. */
        Transcribe transcribe();

        /**
         * LLaMA-Omni2 checkpoints only. gpu-workers' {@code Omni2TurnEngine} reads these as JVM system properties
         * ({@code -Domnicall.worker.omni2.tts-final-cap}); the mapping declares them so that such a property does
         * not stop the app as an unknown key, and the worker role hands a value set here on to the engine.
         */
        Omni2 omni2();

        interface Omni2 {
            /** The TTS LM's cap after the reply text ended, in units; unset: the reference's 1024. */
            Optional<Integer> ttsFinalCap();

            /**
             * R and W of the read/write schedule as {@code (R,W)}, config.json's {@code stream_params} form: after every
             * R text tokens the TTS LM writes up to W units. Unset: the checkpoint's {@code stream_params}.
             */
            Optional<String> streamParams();

            /**
             * The TTS LM's token choice, over the unit ids and its end token either way: {@code greedy} (unset) or
             * {@code sampled:SEED[:TEMPERATURE]} (temperature 1, the reference's, when absent).
             */
            Optional<String> ttsSampling();

            /** The decoder directory (flow.pt, hift.pt, the x-vector); unset: {@code <model dir>/cosy2_decoder}. */
            Optional<String> decoderDir();

            /** The speaker prompt WAV campplus turns into the x-vector (relative to the decoder directory); unset:
             * the cached {@code spk_embedding.safetensors}, else {@code prompt_en.wav} there. */
            Optional<String> speakerWav();
        }

        interface Transcribe {
            /**
             * Transcribe the caller's words (CallerText on caller-text, userText in the history and the transcript).
             * Runs only where the checkpoint has a Whisper decoder and vocabulary; off: the worker runs as before.
             */
            @WithDefault("true")
            boolean enabled();

            /** {@code auto} (the decoder detects it) or a Whisper language code such as {@code en}. */
            @WithDefault("auto")
            String language();

            /** Token cap per utterance; a longer one is cut there and marked truncated. */
            @WithDefault("128")
            int maxTokens();

            /** Decoder tokens each turn advances per reply step, once every turn of the batch has its first audio out. */
            @WithDefault("2")
            int tokensPerStep();

            /**
             * The caller-text delay bound: from the worker reading a turn's request to its CallerText; held transcripts
             * advance anyway from half-way, paced to finish in time (gpu-workers README, "Caller text").
             */
            @WithDefault("PT4S")
            Duration maxDelay();

            /**
             * Hypotheses the Whisper decoder's beam search keeps (1 = greedy): each decoder token then costs up to
             * that many decoder positions.
             */
            @WithDefault("5")
            int beams();

            /**
             * How the beam search ranks finished hypotheses of different lengths: {@code per-token} (whisper's
             * default) or whisper's {@code length_penalty} as a number (0 = summed log-probability; below 0 favours
             * shorter transcripts).
             */
            @WithDefault("per-token")
            String lengthPenalty();
        }
    }

    interface Sip {
        @WithDefault("0.0.0.0")
        String host();

        @WithDefault("5060")
        int port();

        @WithDefault("udp,tcp")
        List<String> transports();

        @WithDefault("100")
        int maxCalls();

        @WithDefault("5")
        double inviteRatePerSource();

        @WithDefault("0.0.0.0/0,::/0")
        List<String> allow();

        Auth auth();

        interface Auth {
            @WithDefault("omnicall")
            String realm();

            Optional<String> username();

            /** Never logged. */
            Optional<String> password();
        }
    }

    interface Rtp {
        @WithDefault("20000")
        int portMin();

        @WithDefault("20999")
        int portMax();

        Optional<String> advertisedAddress();
    }

    interface Vad {
        @WithDefault("silero")
        String kind();

        @WithDefault("0.5")
        double threshold();

        @WithDefault("500")
        int endSilenceMs();

        @WithDefault("160")
        int segmentMs();

        /**
         * Trailing silence after which the turn starts speculatively (the reply is held until end-silence-ms
         * confirms the end, cancelled if the caller goes on); 0 turns speculative turns off.
         */
        @WithDefault("0")
        int speculativeSilenceMs();

        /**
         * Adaptive end-of-turn wait: the end-of-turn silence moves per call between end-silence-min-ms (after a
         * falling, finished-sounding end) and end-silence-max-ms (after DTMF, a level voice, or for a caller who paused
         * and went on); end-silence-ms is the wait when no rule applies. Off: end-silence-ms always.
         */
        @WithDefault("false")
        boolean adaptiveEndSilence();

        @WithDefault("400")
        int endSilenceMinMs();

        @WithDefault("1000")
        int endSilenceMaxMs();

        /** silero_vad.onnx; empty: the places the build puts it (see telephony-bridge README). */
        Optional<Path> sileroModel();
    }

    interface Streams {
        @WithDefault(".omnicall/streams")
        Path stateDir();

        @WithDefault("8")
        int historyTurns();

        @WithDefault("20")
        long commitIntervalMs();

        /** Mask card-number-like digit runs and DTMF digits in the transcripts topic (PCI-DSS hygiene). */
        @WithDefault("false")
        boolean redactTranscripts();

        /**
         * State of a call not seen for this long is removed (its CallEnded never came: a bridge lost for good);
         * longer than any call. PT0S turns the sweep off.
         */
        @WithDefault("PT4H")
        Duration stateTtl();

        /**
         * How long an ended call's transcript is kept so that a caller text still on its way completes it (the
         * worker transcribes a turn cut by the hang-up after its reply stopped). PT0S: closed at CallEnded.
         */
        @WithDefault("PT2M")
        Duration endedGrace();
    }

    interface Bridge {
        /** This bridge's slot 0..count-1 (StatefulSet ordinal); it owns response-audio partitions p % count == index. */
        @WithDefault("0")
        int index();

        /** How many bridges share the topics. */
        @WithDefault("1")
        int count();

        /**
         * How far back the start-up orphan sweep reads this bridge's call-events partitions for calls a crashed
         * previous run left live (they get CallEnded(BRIDGE_LOST)); PT0S turns the sweep off.
         */
        @WithDefault("PT4H")
        Duration orphanLookback();

        /** The overload guard: new calls get 503 + Retry-After while the bridge's own RTP pacing runs late. */
        Overload overload();

        /** telephony-bridge's {@code OverloadConfig}; see its README, "Overload". */
        interface Overload {
            @WithDefault("true")
            boolean enabled();

            /** p99 of the RTP pacer's lateness over one sample that starts refusing. */
            @WithName("refuse-lateness-p99-ms")
            @WithDefault("20")
            int refuseLatenessP99Ms();

            @WithName("resume-lateness-p99-ms")
            @WithDefault("10")
            int resumeLatenessP99Ms();

            /** Process CPU (% of the cores) that starts refusing; 0: CPU not judged (other roles share the process). */
            @WithName("refuse-cpu-pct")
            @WithDefault("0")
            int refuseCpuPct();

            @WithName("resume-cpu-pct")
            @WithDefault("0")
            int resumeCpuPct();

            @WithDefault("PT0.5S")
            Duration sampleInterval();

            @WithDefault("4")
            int resumeAfterSamples();

            /** Late samples in a row before new calls are refused (one JIT or GC pause spoils at most two). */
            @WithDefault("3")
            int refuseAfterSamples();

            @WithDefault("5")
            int retryAfterSeconds();

            /**
             * The longest an RTP receive thread may be away from its sockets in one sample before new calls are
             * refused (caller audio piling up in the socket buffers); 0: receive lag not judged.
             */
            @WithName("refuse-receive-lag-ms")
            @WithDefault("60")
            int refuseReceiveLagMs();

            @WithName("resume-receive-lag-ms")
            @WithDefault("20")
            int resumeReceiveLagMs();
        }
    }

    interface Dashboard {
        /** Run the dashboard/metrics consumer (own group, latest offsets) in this process. */
        @WithDefault("true")
        boolean enabled();

        /** Calls the dashboard keeps in memory; older ones are dropped. */
        @WithName("max-calls")
        @WithDefault("50")
        int maxCalls();
    }
}
