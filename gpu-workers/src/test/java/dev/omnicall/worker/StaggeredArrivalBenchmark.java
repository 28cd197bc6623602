package dev.omnicall.worker;

import static dev.omnicall.model.tools.BenchmarkFigures.fixed;
import static dev.omnicall.model.tools.BenchmarkFigures.keyValueLine;
import static dev.omnicall.model.tools.BenchmarkFigures.loadAverage;
import static dev.omnicall.model.tools.BenchmarkFigures.nearestRank;

import dev.omnicall.events.AudioChunk;
import dev.omnicall.events.CallerText;
import dev.omnicall.events.TextDelta;
import dev.omnicall.events.TurnRequest;
import dev.omnicall.kafka.Clock;
import dev.omnicall.kafka.KafkaSettings;
import dev.omnicall.model.stream.TranscriptionOptions;
import dev.omnicall.worker.engine.OmniTurnEngine;
import org.apache.kafka.common.TopicPartition;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Caller transcription's cost on first audio when turns arrive while others speak: the case PipelineBenchmark's K=10
 * round makes (calls dialled at 10/s, later turns arriving while earlier replies stream and their transcripts are
 * decoded), here through {@link TurnScheduler} and the real engine on the tiny checkpoint, in one process, with no
 * broker, bridge or streams role in the way, so that a shared box's load hits both modes alike.
 *
 * <p>Each round submits {@code bench.k} turns (default 20), one every {@code bench.gapMs} (100 ms) of wall time, each
 * as the worker loop would read it: between two {@code runOnce} calls once its arrival time has passed. First audio
 * is arrival → first AudioChunk produced (the queue wait, the prefill, the steps before the first chunk, and whatever
 * decoder work stood in front of them). Rounds alternate transcription off / on ({@code bench.rounds} each, 3);
 * transcription as the app ships it: 128-token cap (the tiny decoder's random weights run to it), 2 tokens per step.
 * Replies of {@code bench.tokens} (48, as PipelineBenchmark's app) tokens, max batch 8, 1 s utterances, one torch
 * thread. {@code -Dbench.prefillGapBound=off} lifts chunked prefill's gap bound (default on, as the worker). The
 * scheduler keeps the caller-text delay bound {@code bench.maxDelayMs} (default the shipped
 * {@code transcribe.max-delay}, 4000). Prints first-audio p50/p99 per mode and, for the mode with transcription,
 * the caller-text delay (arrival → CallerText handed out) p50/p99/max with the count within the bound and the
 * decoder's CPU per utterance; ends with one {@code key=value} line.
 *
 * <pre>
 * java -Dai.djl.offline=true -cp gpu-workers/target/classes:gpu-workers/target/test-classes:$(cat cp.txt) \
 *     dev.omnicall.worker.StaggeredArrivalBenchmark
 * </pre>
 * It constructs the scheduler with the delay bound ({@code TurnScheduler(..., Duration maxDelay)}, since the bound
 * landed), so it no longer runs against a build from before it.
 */
public final class StaggeredArrivalBenchmark {

    private StaggeredArrivalBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        int k = Integer.getInteger("bench.k", 20);
        long gapMs = Long.getLong("bench.gapMs", 100);
        int rounds = Integer.getInteger("bench.rounds", 3);
        int tokens = Integer.getInteger("bench.tokens", 48);
        int callerTokens = Integer.getInteger("bench.callerTokens", 128);
        String label = System.getProperty("bench.label", "build");
        long maxDelayMs = Long.getLong("bench.maxDelayMs", TranscriptionOptions.DEFAULT_MAX_DELAY.toMillis());
        System.setProperty("ai.djl.pytorch.num_threads", System.getProperty("bench.threads", "1"));
        System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
        System.out.printf(Locale.ROOT, "staggered arrivals (%s): %d turns per round, one every %d ms, %d-token replies,"
                        + " %d caller tokens, caller-text bound %d ms, max batch 8, %d rounds per mode alternating off/on,"
                        + " load average %s%n", label, k, gapMs, tokens, callerTokens, maxDelayMs, rounds, loadAverage());
        String loadStart = loadAverage();
        WorkerConfig config = WorkerConfig.defaults(KafkaSettings.of("unused:9092"), WorkerHarness.tinyCheckpoint())
                .withEncoderPaddedSeconds(0).withOmega(List.of(10, 20, 40, 80))
                .withLimits(tokens, Duration.ofSeconds(30), 256L << 20).withBatching(8, true)
                .withTranscription(new TranscriptionOptions(true, null, callerTokens, 2));
        List<Long> off = new ArrayList<>();
        List<Long> on = new ArrayList<>();
        List<Long> callerTextAfterArrival = new ArrayList<>();
        List<Long> decodeCpu = new ArrayList<>();
        long forced = 0;
        int callerTexts = 0;
        try (OmniTurnEngine engine = OmniTurnEngine.load(config)) {
            OmniTurnEngine without = WorkerBenchmark.transcriptionOff(engine);
            round(without, k, gapMs, maxDelayMs);   // warm-up, both modes
            round(engine, k, gapMs, maxDelayMs);
            for (int r = 0; r < rounds; r++) {
                Round plain = round(without, k, gapMs, maxDelayMs);
                off.addAll(plain.firstAudioUs);
                Round withText = round(engine, k, gapMs, maxDelayMs);
                on.addAll(withText.firstAudioUs);
                callerTextAfterArrival.addAll(withText.callerTextUs);
                decodeCpu.addAll(withText.decodeCpuUs);
                forced += withText.forcedTokens;
                callerTexts += withText.callerTextUs.size();
                System.out.printf(Locale.ROOT, "  pair %d: first audio p50 off %s / on %s ms; caller text after arrival"
                                + " p50 %s / max %s ms; load %s%n", r + 1, ms(nearestRank(plain.firstAudioUs, 0.50)),
                        ms(nearestRank(withText.firstAudioUs, 0.50)), ms(nearestRank(withText.callerTextUs, 0.50)),
                        ms(nearestRank(withText.callerTextUs, 1.0)), loadAverage());
            }
        }
        Map<String, String> summary = new LinkedHashMap<>();
        summary.put("bench", "staggered_arrivals");
        summary.put("label", label);
        summary.put("turns_per_mode", Integer.toString(off.size()));
        summary.put("off_first_audio_p50_ms", ms(nearestRank(off, 0.50)));
        summary.put("off_first_audio_p99_ms", ms(nearestRank(off, 0.99)));
        summary.put("on_first_audio_p50_ms", ms(nearestRank(on, 0.50)));
        summary.put("on_first_audio_p99_ms", ms(nearestRank(on, 0.99)));
        summary.put("on_vs_off_p50", fixed(nearestRank(on, 0.50) / nearestRank(off, 0.50), 3));
        summary.put("caller_texts", Integer.toString(callerTexts));
        summary.put("caller_text_after_arrival_p50_ms", ms(nearestRank(callerTextAfterArrival, 0.50)));
        summary.put("caller_text_after_arrival_p99_ms", ms(nearestRank(callerTextAfterArrival, 0.99)));
        summary.put("caller_text_after_arrival_max_ms", ms(nearestRank(callerTextAfterArrival, 1.0)));
        summary.put("max_delay_ms", Long.toString(maxDelayMs));
        summary.put("caller_texts_within_bound", Long.toString(callerTextAfterArrival.stream()
                .filter(us -> us <= maxDelayMs * 1000).count()));
        summary.put("decode_cpu_p50_ms", ms(nearestRank(decodeCpu, 0.50)));
        summary.put("decode_cpu_p99_ms", ms(nearestRank(decodeCpu, 0.99)));
        summary.put("forced_tokens", Long.toString(forced));
        summary.put("load_start", loadStart);
        summary.put("load_end", loadAverage());
        System.out.printf(Locale.ROOT, "first audio (arrival -> first chunk produced), %d turns per mode: off p50 %s / p99 %s ms,"
                        + " on p50 %s / p99 %s ms; caller texts %d, out %s / %s / %s ms after arrival (p50/p99/max),"
                        + " %s within the %d ms bound; decoder CPU per utterance p50 %s / p99 %s ms%n", off.size(),
                summary.get("off_first_audio_p50_ms"), summary.get("off_first_audio_p99_ms"),
                summary.get("on_first_audio_p50_ms"), summary.get("on_first_audio_p99_ms"), callerTexts,
                summary.get("caller_text_after_arrival_p50_ms"), summary.get("caller_text_after_arrival_p99_ms"),
                summary.get("caller_text_after_arrival_max_ms"), summary.get("caller_texts_within_bound"), maxDelayMs,
                summary.get("decode_cpu_p50_ms"), summary.get("decode_cpu_p99_ms"));
        System.out.println(keyValueLine(summary));
    }

    private record Round(List<Long> firstAudioUs, List<Long> callerTextUs, List<Long> decodeCpuUs, long forcedTokens) {
    }

    /** One round: k turns arriving gapMs apart while the scheduler runs, until every turn is finished. */
    private static Round round(OmniTurnEngine engine, int k, long gapMs, long maxDelayMs) {
        CountingWorkerMetrics metrics = new CountingWorkerMetrics();
        Map<String, Long> arrivalUs = new LinkedHashMap<>();
        Map<String, Long> firstAudioUs = new LinkedHashMap<>();
        List<Long> callerTextUs = new ArrayList<>();
        List<Long> decodeCpuUs = new ArrayList<>();
        TurnOutput collect = new TurnOutput() {
            @Override
            public void text(Turn turn, TextDelta delta) {
            }

            @Override
            public void audio(Turn turn, AudioChunk chunk) {
                firstAudioUs.putIfAbsent(turn.callId(), chunk.getTimings().getFirstChunkProducedUs() - arrivalUs.get(turn.callId()));
            }

            @Override
            public void callerText(Turn turn, CallerText text) {
                callerTextUs.add(Clock.nowMicros() - arrivalUs.get(turn.callId()));
                decodeCpuUs.add(text.getDecodeCpuUs());
            }

            @Override
            public void transcriptionFailed(Turn turn, Throwable error) {
                throw new IllegalStateException("transcription failed in the benchmark", error);
            }

            @Override
            public void finished(Turn turn, Outcome outcome, Throwable error) {
            }
        };
        TurnScheduler scheduler = new TurnScheduler(engine, new ConversationCache(0, metrics), 8, true, "bench",
                metrics, collect, 2, Duration.ofMillis(maxDelayMs));
        // -Dbench.prefillGapBound=off: a newcomer's slice every loop, as the worker with prefill-gap-bound=off
        scheduler.setPrefillGapBound(!"off".equalsIgnoreCase(System.getProperty("bench.prefillGapBound", "on")));
        long t0 = Clock.nowMicros();
        int submitted = 0;
        while (submitted < k || scheduler.hasWork()) {
            long now = Clock.nowMicros();
            // what the worker's poll between two loops would have read by now
            while (submitted < k && now >= t0 + submitted * gapMs * 1000) {
                String callId = "stagger-" + submitted;
                long arrival = t0 + submitted * gapMs * 1000;
                arrivalUs.put(callId, arrival);
                TurnRequest r = WorkerHarness.request(callId, 1, WorkerHarness.utterance(1.0, 500 + submitted), List.of());
                scheduler.submit(new Turn(r, TurnRequests.toInput(r), new TopicPartition("bench", 0), submitted, null, null, 0));
                submitted++;
            }
            if (scheduler.hasWork()) {
                scheduler.runOnce();
            } else {
                sleepMicros(t0 + submitted * gapMs * 1000 - now);
            }
        }
        return new Round(new ArrayList<>(firstAudioUs.values()), callerTextUs, decodeCpuUs, metrics.decoderForcedTokens());
    }

    private static void sleepMicros(long us) {
        if (us > 0) {
            try {
                Thread.sleep(us / 1000, (int) (us % 1000) * 1000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private static String ms(double us) {
        return String.format(Locale.ROOT, "%.1f", us / 1000.0);
    }
}
