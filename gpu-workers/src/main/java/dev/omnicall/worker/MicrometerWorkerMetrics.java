package dev.omnicall.worker;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * {@link WorkerMetrics} on a Micrometer registry. Meter names (Prometheus renders dots as underscores):
 * {@code omnicall.worker.queue.depth}, {@code omnicall.worker.turns.active} (gauges),
 * {@code omnicall.worker.batch.size} (summary per decode step), {@code omnicall.worker.tokens} (counter;
 * {@code rate()} is tokens/s), {@code omnicall.worker.dead.letters{reason}},
 * {@code omnicall.worker.cancellations{reason}}, {@code omnicall.worker.turns.completed},
 * {@code omnicall.worker.first.audio} (timer: inference start to first chunk), {@code omnicall.worker.kv.cache{result}},
 * {@code omnicall.worker.transcriptions{outcome=ok|failed}} (counter: caller transcriptions per utterance) and
 * {@code omnicall.worker.transcription.decode} (timer: time inside the Whisper decoder per utterance, ok or failed) and
 * {@code omnicall.worker.decoder.held.steps} (counter: decode steps with the caller decoder held for first audio),
 * {@code omnicall.worker.transcription.delay} (timer: the worker reading a turn's request to its caller transcript
 * handed to the producer, histogram; the {@code transcribe.max-delay} bound is about it) and
 * {@code omnicall.worker.decoder.forced.tokens} (counter: decoder tokens run for that bound while otherwise held),
 * {@code omnicall.worker.replies.cut{reason=tts-cap|flow-noise}} (counter: replies whose speech an engine limit ended).
 * Every meter carries the tag {@code instance}.
 */
public final class MicrometerWorkerMetrics implements WorkerMetrics {

    private final MeterRegistry registry;
    private final String instance;
    private final AtomicInteger queueDepth = new AtomicInteger();
    private final AtomicInteger activeTurns = new AtomicInteger();
    private final DistributionSummary batchSize;
    private final Counter tokens;
    private final Counter turnsCompleted;
    private final Timer firstAudio;
    private final Counter kvHit;
    private final Counter kvMiss;
    private final Counter transcriptionsOk;
    private final Counter transcriptionsFailed;
    private final Timer transcriptionDecode;
    private final Counter decoderHeld;
    private final Timer transcriptDelay;
    private final Counter decoderForced;
    /** The last playback margin, µs ({@link WorkerMetrics#NO_PLAYBACK_MARGIN} while no turn speaks). */
    private final java.util.concurrent.atomic.AtomicLong playbackMarginUs = new java.util.concurrent.atomic.AtomicLong(NO_PLAYBACK_MARGIN);
    private final Counter admissionHeld;

    public MicrometerWorkerMetrics(MeterRegistry registry, String instanceId) {
        this.registry = registry;
        this.instance = instanceId;
        Gauge.builder("omnicall.worker.queue.depth", queueDepth, AtomicInteger::get).tag("instance", instance)
                .description("turns read and waiting for a batch slot").register(registry);
        Gauge.builder("omnicall.worker.turns.active", activeTurns, AtomicInteger::get).tag("instance", instance)
                .description("turns in the running batch").register(registry);
        batchSize = DistributionSummary.builder("omnicall.worker.batch.size").tag("instance", instance)
                .description("sessions per decode step").register(registry);
        tokens = Counter.builder("omnicall.worker.tokens").tag("instance", instance)
                .description("tokens generated").register(registry);
        turnsCompleted = Counter.builder("omnicall.worker.turns.completed").tag("instance", instance).register(registry);
        firstAudio = Timer.builder("omnicall.worker.first.audio").tag("instance", instance)
                .description("inference start to first audio chunk produced").publishPercentileHistogram()
                .register(registry);
        kvHit = Counter.builder("omnicall.worker.kv.cache").tag("instance", instance).tag("result", "hit").register(registry);
        kvMiss = Counter.builder("omnicall.worker.kv.cache").tag("instance", instance).tag("result", "miss").register(registry);
        transcriptionsOk = Counter.builder("omnicall.worker.transcriptions").tag("instance", instance)
                .tag("outcome", "ok").description("caller utterances transcribed").register(registry);
        transcriptionsFailed = Counter.builder("omnicall.worker.transcriptions").tag("instance", instance)
                .tag("outcome", "failed").description("caller utterances whose transcription failed (dead-lettered)")
                .register(registry);
        transcriptionDecode = Timer.builder("omnicall.worker.transcription.decode").tag("instance", instance)
                .description("time inside the Whisper decoder per caller utterance").publishPercentileHistogram()
                .register(registry);
        decoderHeld = Counter.builder("omnicall.worker.decoder.held.steps").tag("instance", instance)
                .description("decode steps run with the caller decoder held for a queued, starting or silent turn")
                .register(registry);
        transcriptDelay = Timer.builder("omnicall.worker.transcription.delay").tag("instance", instance)
                .description("request read by the worker to its caller transcript handed to the producer")
                .publishPercentileHistogram().register(registry);
        decoderForced = Counter.builder("omnicall.worker.decoder.forced.tokens").tag("instance", instance)
                .description("caller-decoder tokens run for the transcript delay bound while the decoder was held")
                .register(registry);
        Gauge.builder("omnicall.worker.playback.margin", playbackMarginUs,
                        m -> m.get() == NO_PLAYBACK_MARGIN ? Double.NaN : m.get() / 1e6).tag("instance", instance)
                .baseUnit("seconds").description("least reply audio ahead of playback over the speaking turns (negative:"
                        + " a caller hears a gap); newcomers wait while it is below the admission margin")
                .register(registry);
        admissionHeld = Counter.builder("omnicall.worker.admission.held").tag("instance", instance)
                .description("worker loops in which waiting turns were held back to keep the speaking turns ahead of"
                        + " playback").register(registry);
    }

    @Override
    public void playbackMargin(long micros) {
        playbackMarginUs.set(micros);
    }

    @Override
    public void admissionHeld() {
        admissionHeld.increment();
    }

    @Override
    public void transcriptDelay(long delayMicros) {
        transcriptDelay.record(Duration.ofNanos(Math.max(0, delayMicros) * 1_000));
    }

    @Override
    public void decoderForced(int tokens) {
        decoderForced.increment(tokens);
    }

    @Override
    public void decoderHeld() {
        decoderHeld.increment();
    }

    @Override
    public void queueDepth(int waiting) {
        queueDepth.set(waiting);
    }

    @Override
    public void activeTurns(int active) {
        activeTurns.set(active);
    }

    @Override
    public void decodeStep(int size) {
        batchSize.record(size);
    }

    @Override
    public void tokens(int count) {
        tokens.increment(count);
    }

    @Override
    public void deadLetter(String reason) {
        registry.counter("omnicall.worker.dead.letters", "instance", instance, "reason", reason).increment();
    }

    @Override
    public void replyCut(String reason) {
        registry.counter("omnicall.worker.replies.cut", "instance", instance, "reason", reason).increment();
    }

    @Override
    public void cancellation(String reason) {
        registry.counter("omnicall.worker.cancellations", "instance", instance, "reason", reason).increment();
    }

    @Override
    public void turnCompleted(long firstAudioMicros) {
        turnsCompleted.increment();
        if (firstAudioMicros >= 0) {
            firstAudio.record(Duration.ofNanos(firstAudioMicros * 1_000));
        }
    }

    @Override
    public void kvCache(boolean hit) {
        (hit ? kvHit : kvMiss).increment();
    }

    @Override
    public void transcription(boolean ok, long decodeCpuMicros) {
        (ok ? transcriptionsOk : transcriptionsFailed).increment();
        transcriptionDecode.record(Duration.ofNanos(Math.max(0, decodeCpuMicros) * 1_000));
    }
}
