package dev.omnicall.app.bench;

import dev.omnicall.app.trace.TurnSpans;
import dev.omnicall.events.AudioChunk;
import dev.omnicall.events.AudioSegment;
import dev.omnicall.events.TurnRequest;
import dev.omnicall.events.TurnTimings;
import dev.omnicall.kafka.TurnTrace;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.BatchSpanProcessor;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import org.apache.kafka.common.header.Headers;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * What tracing costs a turn: the four {@link TurnTrace} hooks of one turn (the bridge's end of utterance, streams'
 * TurnRequest, the worker's first chunk, the bridge's first RTP packet), each given the headers the one before
 * returned, as the roles call them, with the SDK on ({@link TurnSpans}: ten spans, W3C propagation, a batch processor
 * with an exporter that only counts, so neither OTLP's encoding nor the network is measured) and off ({@link TurnTrace#RELAY}:
 * the traceparent header copied on). It prints the wall time and the CPU time per turn of the calling thread (what a
 * role's Kafka or compute thread pays), and the process's CPU time per turn (adds the batch processor's thread), then
 * one {@code key=value} line.
 *
 * <pre>
 * java -cp ... dev.omnicall.app.bench.TraceCostBenchmark [-Dbench.trace.turns=20000] [-Dbench.trace.rounds=5]
 * </pre>
 *
 * The class path is PipelineBenchmark's (quarkus-app README). Rounds alternate on/off; the medians are printed.
 */
public final class TraceCostBenchmark {

    private TraceCostBenchmark() {
    }

    /** One measured batch of turns. */
    record Cost(long turns, long wallNanos, long threadCpuNanos, long processCpuNanos, long spansExported) {

        double wallUsPerTurn() {
            return wallNanos / 1000.0 / turns;
        }

        double threadCpuUsPerTurn() {
            return threadCpuNanos / 1000.0 / turns;
        }

        double processCpuUsPerTurn() {
            return processCpuNanos / 1000.0 / turns;
        }
    }

    public static void main(String[] args) {
        int turns = Integer.parseInt(System.getProperty("bench.trace.turns", "20000"));
        int rounds = Integer.parseInt(System.getProperty("bench.trace.rounds", "5"));
        System.out.printf(Locale.ROOT, "trace cost benchmark: %d turns a round, %d rounds each way, %d cores, load average %s%n",
                turns, rounds, Runtime.getRuntime().availableProcessors(), Arrays.toString(CpuSampler.loadAverage()));
        double load0 = CpuSampler.loadAverage()[0];
        // warm-up: the JIT compiles both paths before anything is measured
        measure(true, turns);
        measure(false, turns);
        List<Cost> on = new ArrayList<>();
        List<Cost> off = new ArrayList<>();
        for (int r = 0; r < rounds; r++) {
            on.add(measure(true, turns));
            off.add(measure(false, turns));
            Cost a = on.get(r);
            Cost b = off.get(r);
            System.out.printf(Locale.ROOT, "round %d: on %.2f us/turn wall, %.2f us thread CPU, %.2f us process CPU,"
                            + " %d spans exported; off %.2f us wall, %.2f us thread CPU, %.2f us process CPU%n", r + 1,
                    a.wallUsPerTurn(), a.threadCpuUsPerTurn(), a.processCpuUsPerTurn(), a.spansExported(),
                    b.wallUsPerTurn(), b.threadCpuUsPerTurn(), b.processCpuUsPerTurn());
        }
        double onWall = median(on.stream().mapToDouble(Cost::wallUsPerTurn).toArray());
        double onThread = median(on.stream().mapToDouble(Cost::threadCpuUsPerTurn).toArray());
        double onProcess = median(on.stream().mapToDouble(Cost::processCpuUsPerTurn).toArray());
        double offWall = median(off.stream().mapToDouble(Cost::wallUsPerTurn).toArray());
        double offThread = median(off.stream().mapToDouble(Cost::threadCpuUsPerTurn).toArray());
        double offProcess = median(off.stream().mapToDouble(Cost::processCpuUsPerTurn).toArray());
        double load1 = CpuSampler.loadAverage()[0];
        System.out.printf(Locale.ROOT, "median per turn (10 spans on, 4 hooks both ways): on %.2f us wall / %.2f us thread CPU"
                        + " / %.2f us process CPU; off %.2f / %.2f / %.2f us; tracing adds %.2f us of process CPU a turn%n",
                onWall, onThread, onProcess, offWall, offThread, offProcess, onProcess - offProcess);
        System.out.printf(Locale.ROOT, "bench=trace-cost turns=%d rounds=%d on_wall_us_per_turn=%.2f on_thread_cpu_us_per_turn=%.2f"
                        + " on_process_cpu_us_per_turn=%.2f off_wall_us_per_turn=%.2f off_thread_cpu_us_per_turn=%.2f"
                        + " off_process_cpu_us_per_turn=%.2f added_process_cpu_us_per_turn=%.2f load1_start=%.2f load1_end=%.2f%n",
                turns, rounds, onWall, onThread, onProcess, offWall, offThread, offProcess, onProcess - offProcess, load0,
                load1);
    }

    /** {@code turns} turns through the four hooks, tracing on (TurnSpans, batch processor) or off (RELAY). */
    static Cost measure(boolean tracing, int turns) {
        CountingExporter exporter = new CountingExporter();
        SdkTracerProvider provider = SdkTracerProvider.builder()
                // a queue that holds every span of the batch: at a few turns a second Quarkus' 2048 drops none, at
                // this rate it would, and dropping is cheaper than exporting
                .addSpanProcessor(BatchSpanProcessor.builder(exporter).setMaxQueueSize(Math.max(2048, turns * 10))
                        .build()).build();
        TurnTrace trace = tracing ? new TurnSpans(provider.get("bench"), new SimpleMeterRegistry()) : TurnTrace.RELAY;
        ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        com.sun.management.OperatingSystemMXBean os =
                (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        long sink = 0;
        long cpu0 = threads.getCurrentThreadCpuTime();
        long proc0 = os.getProcessCpuTime();
        long t0 = System.nanoTime();
        for (int i = 0; i < turns; i++) {
            sink += oneTurn(trace, i).toArray().length;
        }
        long wall = System.nanoTime() - t0;
        long cpu = threads.getCurrentThreadCpuTime() - cpu0;
        // the batch processor's thread exports what is left: its CPU time belongs to these turns
        provider.forceFlush().join(30, TimeUnit.SECONDS);
        long proc = os.getProcessCpuTime() - proc0;
        provider.shutdown().join(30, TimeUnit.SECONDS);
        if (sink < 0) {
            System.out.println(sink);
        }
        return new Cost(turns, wall, cpu, proc, exporter.spans.get());
    }

    /** One turn's four hooks, each given the headers the one before returned; the PlaybackStarted headers back. */
    static Headers oneTurn(TurnTrace trace, int n) {
        String call = "bench-call-" + (n & 1023);
        long t = 1_700_000_000_000_000L + n * 10_000_000L;
        TurnTimings stamps = TurnTimings.newBuilder().setSpeechEndUs(t).setEndOfTurnUs(t + 500_000)
                .setSegmentProducedUs(t + 500_100).setRequestProducedUs(t + 520_000).setRequestConsumedUs(t + 531_000)
                .setInferenceStartUs(t + 543_000).setPrefillDoneUs(t + 900_000).setFirstUnitsUs(t + 1_100_000)
                .setFirstAudioUs(t + 1_150_000).setFirstChunkProducedUs(t + 1_150_500).setChunkReceivedUs(t + 1_170_000)
                .setFirstRtpUs(t + 1_191_000).build();
        AudioSegment segment = AudioSegment.newBuilder().setCallId(call).setUtteranceId(n).setSeq(0).setSampleRate(16000)
                .setPcm(ByteBuffer.allocate(0)).setVoiced(false).setEndOfUtterance(true).setCaptureStartUs(t)
                .setCaptureEndUs(t).setTimings(stamps).build();
        TurnRequest request = TurnRequest.newBuilder().setCallId(call).setTurnId(n).setAttempt(0)
                .setAudio(ByteBuffer.allocate(0)).setTimings(stamps).build();
        AudioChunk chunk = AudioChunk.newBuilder().setCallId(call).setTurnId(n).setAttempt(1).setSeq(0)
                .setPcm(ByteBuffer.allocate(0)).setUnitCount(10).setLast(false).setTimings(stamps).build();
        Headers h = trace.utteranceEnded(segment);
        h = trace.turnRequested(h, request);
        h = trace.firstChunk(h, chunk);
        return trace.playbackStarted(h, call, n, 1, stamps);
    }

    private static double median(double[] values) {
        double[] v = values.clone();
        Arrays.sort(v);
        return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    }

    /** Takes every span and only counts it: the batch processor's work without a network. */
    static final class CountingExporter implements SpanExporter {
        final AtomicLong spans = new AtomicLong();

        @Override
        public CompletableResultCode export(Collection<SpanData> batch) {
            spans.addAndGet(batch.size());
            return CompletableResultCode.ofSuccess();
        }

        @Override
        public CompletableResultCode flush() {
            return CompletableResultCode.ofSuccess();
        }

        @Override
        public CompletableResultCode shutdown() {
            return CompletableResultCode.ofSuccess();
        }
    }
}
