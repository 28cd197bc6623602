package dev.omnicall.worker;

import dev.omnicall.kafka.KafkaSettings;
import dev.omnicall.kafka.SerdeConfig;
import dev.omnicall.model.LengthPenalty;
import dev.omnicall.model.stream.TranscriptionOptions;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * Everything one inference worker needs, framework-free: the Quarkus app maps its config onto it,
 * {@link WorkerMain} reads it from properties ({@link #fromProperties}).
 *
 * @param kafka          bootstrap servers and client pass-through ({@code kafka.*})
 * @param serde          value serde ({@code omnicall.serde.*})
 * @param modelDir       checkpoint directory (config.json + safetensors + vocoder)
 * @param device         {@code cpu} or {@code gpu:N}; one worker process per GPU
 * @param encoderPaddedSeconds log-mel input length: 30 pads every utterance to 30 s as the reference model
 *                       does; 0 encodes the audio's own length (lower latency; measure any quality cost)
 * @param omegaSchedule  units per audio chunk: the first chunk takes the first entry, later chunks the next
 *                       ones, the last entry repeats (e.g. 10,20,40,80)
 * @param maxBatch       most turns decoded together in one step
 * @param batchedDecode  one forward for the whole batch (true) or one forward per turn (false, for comparison)
 * @param kvCacheBytes   bound of the worker's KV memory: the LLM's pool (running turns and the calls' caches kept between turns) and the CTC unit decoder's pool together; 0: no pools, none kept
 * @param maxNewTokens   token limit of one reply
 * @param maxAudio       longest utterance accepted; longer requests are dead-lettered
 * @param maxQueuedTurns turns waiting for a batch slot before the worker pauses reading turn-requests
 *                       (call-events keep flowing, so cancellation still works)
 * @param instanceId     this worker's name in output events, client ids and metrics
 * @param groupId        consumer group shared by all workers
 * @param transcription  caller transcription ({@code omnicall.worker.transcribe.*}): on/off, language or auto, the
 *                       token cap per utterance, decoder tokens per reply step; on by default, and off with one log
 *                       line when the checkpoint has no Whisper decoder
 */
public record WorkerConfig(KafkaSettings kafka, SerdeConfig serde, Path modelDir, DeviceSpec device,
                           double encoderPaddedSeconds, List<Integer> omegaSchedule, int maxBatch, boolean batchedDecode, long kvCacheBytes,
                           int maxNewTokens, Duration maxAudio, int maxQueuedTurns, String instanceId,
                           String groupId, TranscriptionOptions transcription) {

    public static final String PREFIX = "omnicall.worker.";
    public static final String DEFAULT_GROUP = "omnicall-workers";
    /**
     * Caller transcription keys: {@code omnicall.worker.transcribe.enabled|language|max-tokens|tokens-per-step|beams|
     * length-penalty}.
     */
    public static final String TRANSCRIBE = PREFIX + "transcribe.";

    /** With the default caller transcription settings ({@link TranscriptionOptions#defaults()}). */
    public WorkerConfig(KafkaSettings kafka, SerdeConfig serde, Path modelDir, DeviceSpec device,
                        double encoderPaddedSeconds, List<Integer> omegaSchedule, int maxBatch, boolean batchedDecode,
                        long kvCacheBytes, int maxNewTokens, Duration maxAudio, int maxQueuedTurns, String instanceId,
                        String groupId) {
        this(kafka, serde, modelDir, device, encoderPaddedSeconds, omegaSchedule, maxBatch, batchedDecode, kvCacheBytes,
                maxNewTokens, maxAudio, maxQueuedTurns, instanceId, groupId, TranscriptionOptions.defaults());
    }

    public WorkerConfig {
        Objects.requireNonNull(kafka, "kafka settings");
        Objects.requireNonNull(serde, "serde config");
        Objects.requireNonNull(modelDir, PREFIX + "model-dir");
        Objects.requireNonNull(device, PREFIX + "device");
        if (!(encoderPaddedSeconds >= 0 && encoderPaddedSeconds <= 30)) {
            throw new IllegalArgumentException(PREFIX + "encoder-padded-seconds must be in [0, 30], got " + encoderPaddedSeconds);
        }
        omegaSchedule = List.copyOf(omegaSchedule);
        if (omegaSchedule.isEmpty() || omegaSchedule.stream().anyMatch(o -> o < 1)) {
            throw new IllegalArgumentException(PREFIX + "omega must list unit counts >= 1, got " + omegaSchedule);
        }
        if (maxBatch < 1) {
            throw new IllegalArgumentException(PREFIX + "max-batch must be >= 1, got " + maxBatch);
        }
        if (kvCacheBytes < 0) {
            throw new IllegalArgumentException(PREFIX + "kv-cache-bytes must be >= 0, got " + kvCacheBytes);
        }
        if (maxNewTokens < 1) {
            throw new IllegalArgumentException(PREFIX + "max-new-tokens must be >= 1, got " + maxNewTokens);
        }
        Objects.requireNonNull(maxAudio, PREFIX + "max-audio-seconds");
        if (maxAudio.isNegative() || maxAudio.isZero()) {
            throw new IllegalArgumentException(PREFIX + "max-audio-seconds must be > 0, got " + maxAudio);
        }
        if (maxQueuedTurns < 1) {
            throw new IllegalArgumentException(PREFIX + "max-queued-turns must be >= 1, got " + maxQueuedTurns);
        }
        if (instanceId == null || instanceId.isBlank()) {
            throw new IllegalArgumentException(PREFIX + "instance-id is blank");
        }
        if (groupId == null || groupId.isBlank()) {
            throw new IllegalArgumentException(PREFIX + "group-id is blank");
        }
        Objects.requireNonNull(transcription, TRANSCRIBE + "*");
    }

    /** Defaults for everything but Kafka and the model directory. */
    public static WorkerConfig defaults(KafkaSettings kafka, Path modelDir) {
        return new WorkerConfig(kafka, SerdeConfig.embedded(), modelDir, DeviceSpec.CPU, 30, List.of(10, 20, 40, 80),
                8, true, 512L << 20, 256, Duration.ofSeconds(60), 64, defaultInstanceId(), DEFAULT_GROUP);
    }

    /**
     * Reads {@code kafka.*}, {@code omnicall.serde.*} and {@code omnicall.worker.*}: model-dir (required),
     * device, encoder-padded-seconds, omega, max-batch, batched-decode, kv-cache-bytes (k/m/g suffixes), max-new-tokens,
     * max-audio-seconds, max-queued-turns, instance-id, group-id, and transcribe.enabled (true),
     * transcribe.language ({@code auto} or a Whisper code such as {@code en}), transcribe.max-tokens (128),
     * transcribe.tokens-per-step (2), transcribe.max-delay (the caller-text delay bound: {@code PT4S}, {@code 4s} or
     * {@code 4000ms}; &gt; 0), transcribe.beams (1 = greedy; up to 32), transcribe.length-penalty ({@code per-token},
     * whisper's default, or whisper's {@code length_penalty} as a number: {@link LengthPenalty}).
     */
    public static WorkerConfig fromProperties(Map<String, ?> props) {
        Object dir = props.get(PREFIX + "model-dir");
        if (dir == null) {
            throw new IllegalArgumentException(PREFIX + "model-dir is not set");
        }
        WorkerConfig d = defaults(KafkaSettings.fromProperties(props), Path.of(dir.toString()));
        return new WorkerConfig(d.kafka, SerdeConfig.fromProperties(props), d.modelDir,
                DeviceSpec.parse(get(props, "device", d.device.toString())),
                Double.parseDouble(get(props, "encoder-padded-seconds", Double.toString(d.encoderPaddedSeconds))),
                parseOmega(get(props, "omega", join(d.omegaSchedule))),
                Integer.parseInt(get(props, "max-batch", Integer.toString(d.maxBatch))),
                Boolean.parseBoolean(get(props, "batched-decode", Boolean.toString(d.batchedDecode))),
                parseBytes(get(props, "kv-cache-bytes", Long.toString(d.kvCacheBytes))),
                Integer.parseInt(get(props, "max-new-tokens", Integer.toString(d.maxNewTokens))),
                Duration.ofMillis(Math.round(1000 * Double.parseDouble(get(props, "max-audio-seconds", "60")))),
                Integer.parseInt(get(props, "max-queued-turns", Integer.toString(d.maxQueuedTurns))),
                get(props, "instance-id", d.instanceId), get(props, "group-id", d.groupId),
                transcription(props, d.transcription));
    }

    private static TranscriptionOptions transcription(Map<String, ?> props, TranscriptionOptions d) {
        String enabled = get(props, "transcribe.enabled", Boolean.toString(d.enabled())).trim();
        if (!enabled.equalsIgnoreCase("true") && !enabled.equalsIgnoreCase("false")) {
            throw new IllegalArgumentException(TRANSCRIBE + "enabled must be true or false, got '" + enabled + "'");
        }
        String language = get(props, "transcribe.language", d.languageOrAuto()).trim();
        if (!language.equalsIgnoreCase("auto") && !language.matches("[a-z]{2,3}")) {
            throw new IllegalArgumentException(TRANSCRIBE + "language must be auto or a Whisper language code such as en,"
                    + " got '" + language + "'");
        }
        try {
            return new TranscriptionOptions(Boolean.parseBoolean(enabled), language,
                    Integer.parseInt(get(props, "transcribe.max-tokens", Integer.toString(d.maxTokens())).trim()),
                    Integer.parseInt(get(props, "transcribe.tokens-per-step", Integer.toString(d.tokensPerStep())).trim()),
                    parseDelay(get(props, "transcribe.max-delay", d.maxDelay().toString()).trim()),
                    Integer.parseInt(get(props, "transcribe.beams", Integer.toString(d.beams())).trim()),
                    LengthPenalty.parse(get(props, "transcribe.length-penalty", d.lengthPenalty().toString())));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(TRANSCRIBE + "max-tokens, tokens-per-step and beams must be"
                    + " whole numbers: " + e.getMessage());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(TRANSCRIBE + "*: " + e.getMessage());
        }
    }

    /** {@code PT4S} (ISO-8601), {@code 4s}, {@code 2.5s} or {@code 4000ms}. */
    static Duration parseDelay(String v) {
        try {
            if (v.startsWith("P") || v.startsWith("p")) {
                return Duration.parse(v.toUpperCase(java.util.Locale.ROOT));
            }
            if (v.endsWith("ms")) {
                return Duration.ofMillis(Long.parseLong(v.substring(0, v.length() - 2).trim()));
            }
            if (v.endsWith("s")) {
                return Duration.ofMillis(Math.round(1000 * Double.parseDouble(v.substring(0, v.length() - 1).trim())));
            }
        } catch (NumberFormatException | java.time.format.DateTimeParseException e) {
            // falls through to the message below
        }
        throw new IllegalArgumentException(TRANSCRIBE + "max-delay must be a duration such as PT4S, 4s or 4000ms, got '"
                + v + "'");
    }

    public WorkerConfig withTranscription(TranscriptionOptions t) {
        return new WorkerConfig(kafka, serde, modelDir, device, encoderPaddedSeconds, omegaSchedule, maxBatch, batchedDecode,
                kvCacheBytes, maxNewTokens, maxAudio, maxQueuedTurns, instanceId, groupId, t);
    }

    public WorkerConfig withModelDir(Path dir) {
        return new WorkerConfig(kafka, serde, dir, device, encoderPaddedSeconds, omegaSchedule, maxBatch, batchedDecode,
                kvCacheBytes, maxNewTokens, maxAudio, maxQueuedTurns, instanceId, groupId, transcription);
    }

    public WorkerConfig withDevice(DeviceSpec d) {
        return new WorkerConfig(kafka, serde, modelDir, d, encoderPaddedSeconds, omegaSchedule, maxBatch, batchedDecode, kvCacheBytes,
                maxNewTokens, maxAudio, maxQueuedTurns, instanceId, groupId, transcription);
    }

    public WorkerConfig withEncoderPaddedSeconds(double seconds) {
        return new WorkerConfig(kafka, serde, modelDir, device, seconds, omegaSchedule, maxBatch, batchedDecode,
                kvCacheBytes, maxNewTokens, maxAudio, maxQueuedTurns, instanceId, groupId, transcription);
    }

    public WorkerConfig withBatching(int batch, boolean batched) {
        return new WorkerConfig(kafka, serde, modelDir, device, encoderPaddedSeconds, omegaSchedule, batch, batched, kvCacheBytes,
                maxNewTokens, maxAudio, maxQueuedTurns, instanceId, groupId, transcription);
    }

    public WorkerConfig withOmega(List<Integer> schedule) {
        return new WorkerConfig(kafka, serde, modelDir, device, encoderPaddedSeconds, schedule, maxBatch, batchedDecode, kvCacheBytes,
                maxNewTokens, maxAudio, maxQueuedTurns, instanceId, groupId, transcription);
    }

    public WorkerConfig withLimits(int newTokens, Duration audio, long cacheBytes) {
        return new WorkerConfig(kafka, serde, modelDir, device, encoderPaddedSeconds, omegaSchedule, maxBatch, batchedDecode, cacheBytes,
                newTokens, audio, maxQueuedTurns, instanceId, groupId, transcription);
    }

    public WorkerConfig withIdentity(String instance, String group) {
        return new WorkerConfig(kafka, serde, modelDir, device, encoderPaddedSeconds, omegaSchedule, maxBatch, batchedDecode, kvCacheBytes,
                maxNewTokens, maxAudio, maxQueuedTurns, instance, group, transcription);
    }

    /** Parses "10,20,40,80". */
    public static List<Integer> parseOmega(String text) {
        List<Integer> out = new ArrayList<>();
        for (String part : text.split(",")) {
            String p = part.trim();
            if (!p.isEmpty()) {
                try {
                    out.add(Integer.parseInt(p));
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException(PREFIX + "omega '" + text + "' is not a comma-separated list of unit counts");
                }
            }
        }
        return out;
    }

    /** Parses a byte count with an optional k, m or g suffix (powers of 1024). */
    public static long parseBytes(String text) {
        String s = text.trim().toLowerCase(Locale.ROOT);
        long unit = 1;
        if (s.endsWith("b")) {
            s = s.substring(0, s.length() - 1);
        }
        if (s.endsWith("k")) {
            unit = 1L << 10;
        } else if (s.endsWith("m")) {
            unit = 1L << 20;
        } else if (s.endsWith("g")) {
            unit = 1L << 30;
        }
        if (unit > 1) {
            s = s.substring(0, s.length() - 1);
        }
        try {
            return Math.multiplyExact(Long.parseLong(s.trim()), unit);
        } catch (NumberFormatException | ArithmeticException e) {
            throw new IllegalArgumentException(PREFIX + "kv-cache-bytes '" + text + "' is not a byte count like 536870912 or 512m");
        }
    }

    private static String get(Map<String, ?> props, String key, String fallback) {
        Object v = props.get(PREFIX + key);
        return v == null ? fallback : v.toString();
    }

    private static String join(List<Integer> xs) {
        return String.join(",", xs.stream().map(String::valueOf).toList());
    }

    private static String defaultInstanceId() {
        try {
            return "worker-" + InetAddress.getLocalHost().getHostName();
        } catch (UnknownHostException e) {
            return "worker-" + ProcessHandle.current().pid();
        }
    }
}
