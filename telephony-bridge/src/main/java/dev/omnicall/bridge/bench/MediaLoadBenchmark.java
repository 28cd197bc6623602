package dev.omnicall.bridge.bench;

import dev.omnicall.bridge.codec.MuLaw;
import dev.omnicall.bridge.media.CountingMediaMetrics;
import dev.omnicall.bridge.media.LatencyHistogram;
import dev.omnicall.bridge.media.MediaConfig;
import dev.omnicall.bridge.media.MediaListener;
import dev.omnicall.bridge.media.MediaSession;
import dev.omnicall.bridge.media.MediaStats;
import dev.omnicall.bridge.media.RtpPacer;
import dev.omnicall.bridge.media.RtpPortAllocator;
import dev.omnicall.bridge.media.RtpReceivers;
import dev.omnicall.bridge.media.Segment;
import dev.omnicall.bridge.vad.VadFactory;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.lang.management.ThreadMXBean;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;

/**
 * How many calls one bridge instance carries: N callers on loopback ({@link RtpLoadGenerator}) send
 * PCMU speech into N {@link MediaSession}s (decode, resample, VAD, segmentation) while every session
 * plays a reply back (resample, encode, paced RTP). For each N it reports send lateness against the
 * absolute schedule (p50/p99/max over all packets), loss both ways, and the CPU of the bridge's own
 * threads per call. The answer is the largest N with send-jitter p99 ≤ 2 ms and no loss.
 *
 * <pre>
 * java -cp ... dev.omnicall.bridge.bench.MediaLoadBenchmark [--calls=10,50,100,200,500,1000] [--seconds=10]
 *      [--vad=silero|energy] [--ptime=20] [--busy=threads] [--gate=off|dBFS] [--vad-batch=on|off]
 *      [--rx-threads=N] [--silero-rate=16000|8000] [--assist=off|on]
 * </pre>
 *
 * Per step: send lateness p50/p99/max, the callers' RFC 3550 interarrival jitter and sequence gaps, loss at the
 * bridge (RFC 3550 loss + late, after the callers stop and its backlog drains), segments per call and their audio
 * over the speech sent (both over the measured window), CPU of the bridge threads per call, process CPU, threads,
 * heap, and the receive threads' lag sampled as the overload guard samples it (its refuse and resume thresholds).
 * {@code --busy=N} starves the bridge with N spinning threads in its process.
 *
 * Barge-in is switched off here (the callers talk all the time, which would stop every reply).
 */
public final class MediaLoadBenchmark {
    private static final long P99_LIMIT_MICROS = 2_000;
    private static final int MAX_WARMUP_SECONDS = 8;
    /** The overload guard's default sample interval and receive-lag thresholds ({@code OverloadConfig}). */
    private static final int LAG_SAMPLE_MS = 500;
    private static final long REFUSE_LAG_MICROS = 60_000;
    private static final long RESUME_LAG_MICROS = 20_000;
    /** The threads whose run-queue wait and CPU each step reports (names as Linux truncates them, 15 chars). */
    private static final ThreadSchedule SCHEDULE = new ThreadSchedule(
            List.of("bench-pacer", "rtp-rx", "loadgen-send", "loadgen-recv", "C1 ", "C2 ", "GC Thread", "G1 "));

    /**
     * One step. Counted over the measured window only (after a 2 s warm-up): the speech the callers sent, the
     * segments the bridge published, the CPU; loss is read after the callers stop and the bridge's backlog drains.
     */
    record StepResult(int calls, long p50, long p99, long max, long sentByBridge, long receivedByCallers,
                      long callerSideGaps, double callerJitterMs, long sentByCallers, long bridgeSideLost,
                      long segments, double segmentSeconds, double speechSeconds, double bridgeCpuPerCallPct,
                      double processCpuPct, long pacerSlips, int threads, long heapMb, double load,
                      long vadRuns, long vadFrames, long sendDropped, long tickStartP99, String where,
                      long warmupMs, long floorP99, long floorMax, long backlogPackets, long stepSegments,
                      double stepSegmentSeconds, double stepSpeechSeconds, long stepVadFrames, long timed,
                      long assistedTicks, long[] receiveLagMicros) {
        boolean passes() {
            return p99 <= P99_LIMIT_MICROS && callerSideGaps == 0 && bridgeSideLost == 0
                    && receivedByCallers >= sentByBridge;
        }

        /** 512-sample VAD frames the callers' audio in the window makes (before the gate): 20 ms packets, 32 ms frames. */
        long framesCompleted() {
            return Math.round(speechSeconds / 0.032);
        }

        /**
         * The receive threads' lag as the overload guard samples it ({@code RtpReceivers.takeMaxReceiveLagNanos()} every
         * {@value #LAG_SAMPLE_MS} ms over the window): p50 and max in ms, and the samples at or over the guard's default
         * refuse threshold (60 ms) and under its resume threshold (20 ms).
         */
        String receiveLag() {
            long[] sorted = receiveLagMicros.clone();
            java.util.Arrays.sort(sorted);
            if (sorted.length == 0) {
                return "receive lag: no samples";
            }
            long hot = java.util.Arrays.stream(sorted).filter(v -> v >= REFUSE_LAG_MICROS).count();
            long calm = java.util.Arrays.stream(sorted).filter(v -> v < RESUME_LAG_MICROS).count();
            return String.format(Locale.ROOT, "receive lag (%d samples, %d ms apart, as the overload guard reads it): p50=%.1f ms"
                            + " max=%.1f ms; %d at or over the refuse threshold %d ms, %d under the resume threshold %d ms",
                    sorted.length, LAG_SAMPLE_MS, sorted[(sorted.length - 1) / 2] / 1000.0, sorted[sorted.length - 1] / 1000.0,
                    hot, REFUSE_LAG_MICROS / 1000, calm, RESUME_LAG_MICROS / 1000);
        }

        long receiveLagMaxMicros() {
            return java.util.Arrays.stream(receiveLagMicros).max().orElse(0);
        }

        double segmentsPerCall() {
            return (double) segments / calls;
        }

        /** Published segment audio over the speech sent in the window: ~1 (the caller's pauses are not sent on). */
        double segmentAudioRatio() {
            return speechSeconds == 0 ? 0 : segmentSeconds / speechSeconds;
        }
    }

    public static void main(String[] args) throws Exception {
        List<Integer> steps = List.of(10, 50, 100, 200, 500, 1000);
        int seconds = 10;
        String vadKind = "silero";
        int ptime = 20;
        int busy = 0;
        String gate = "default";
        boolean batch = true;
        boolean assist = false;
        int cores = Runtime.getRuntime().availableProcessors();
        int rxThreads = Math.max(1, cores - Math.max(1, cores / 4)); // RtpReceivers.shared()'s count
        int sileroRate = dev.omnicall.bridge.vad.SileroModel.RATE_16K;
        for (String a : args) {
            if (a.startsWith("--calls=")) {
                steps = java.util.Arrays.stream(a.substring(8).split(",")).map(Integer::parseInt).toList();
            } else if (a.startsWith("--seconds=")) {
                seconds = Integer.parseInt(a.substring(10));
            } else if (a.startsWith("--vad=")) {
                vadKind = a.substring(6);
            } else if (a.startsWith("--ptime=")) {
                ptime = Integer.parseInt(a.substring(8));
            } else if (a.startsWith("--gate=")) {
                gate = a.substring(7);
            } else if (a.startsWith("--rx-threads=")) {
                rxThreads = Integer.parseInt(a.substring(13));
            } else if (a.startsWith("--vad-batch=")) {
                batch = !"off".equals(a.substring(12));
            } else if (a.startsWith("--silero-rate=")) {
                sileroRate = Integer.parseInt(a.substring(14));
            } else if (a.startsWith("--assist=")) {
                assist = !"off".equals(a.substring(9));
            } else if (a.startsWith("--busy=")) {
                busy = Integer.parseInt(a.substring(7));
            } else {
                throw new IllegalArgumentException("unknown argument " + a
                        + " (--calls=10,25 --seconds=10 --vad=silero|energy --ptime=20 --busy=threads --gate=off|dBFS"
                        + " --vad-batch=on|off --rx-threads=N --silero-rate=16000|8000 --assist=on|off)");
            }
        }
        short[] speech = speech8k();
        System.out.printf(Locale.ROOT, "media load benchmark: %d cores, ptime %d ms, %d s per step, caller audio %.1f s,"
                        + " %d busy threads starving the bridge%n",
                Runtime.getRuntime().availableProcessors(), ptime, seconds, speech.length / 8000.0, busy);
        long[] floor = schedulingFloor(3);
        System.out.printf(Locale.ROOT, "machine floor: an idle thread waking every 20 ms is late by p50=%d us p99=%d us"
                + " max=%d us (load average %.1f)%n", floor[0], floor[1], floor[2], loadAverage());
        VadFactory vads = "energy".equals(vadKind) ? VadFactory.energyOnly()
                : VadFactory.create(VadFactory.locateModel(), sileroRate);
        if ("off".equals(gate)) {
            vads.withEnergyGate(Double.NaN);
        } else if (!"default".equals(gate)) {
            vads.withEnergyGate(Double.parseDouble(gate));
        }
        if ("silero".equals(vadKind) && !vads.usesSilero()) {
            // the app falls back to the energy VAD and keeps answering calls; a benchmark asked for Silero must not
            // time the energy VAD instead (the figures would look like Silero's)
            throw new IllegalStateException("--vad=silero, but " + vads.fallbackReason().orElse("Silero did not load")
                    + " (run from the repository root, or set -D" + VadFactory.MODEL_PROPERTY + "=PATH; --vad=energy"
                    + " times the energy VAD on purpose)");
        }
        String vadName = vads.usesSilero()
                ? (vads.sileroRate() == 8000 ? "silero8k" : "silero")
                        + (Double.isNaN(vads.energyGateDbfs()) ? "" : "+gate" + (int) vads.energyGateDbfs())
                : "energy";
        System.out.println("VAD: " + (vads.usesSilero() ? vadName : "energy (" + vads.fallbackReason().orElse("") + ")"));
        List<StepResult> results = new ArrayList<>();
        for (int calls : steps) {
            StepResult r = runStep(calls, seconds, ptime, vads, speech, busy, batch, rxThreads, assist);
            results.add(r);
            System.out.printf(Locale.ROOT,
                    "calls=%4d  send lateness p50=%5d us p99=%6d us max=%6d us  caller jitter=%.2f ms  bridge sent=%d"
                            + " callers got=%d gaps=%d  callers sent=%d bridge lost=%d  segments/call=%.1f"
                            + " (audio %.2f x speech sent)  bridge cpu/call=%.2f%%  process cpu=%.0f%%  threads=%d"
                            + "  heap=%d MB  slips=%d  silero runs=%d frames=%d of %d completed (mean batch %.1f)  send dropped=%d"
                            + "  load=%.1f  %s%n",
                    r.calls, r.p50, r.p99, r.max, r.callerJitterMs, r.sentByBridge, r.receivedByCallers,
                    r.callerSideGaps, r.sentByCallers, r.bridgeSideLost, r.segmentsPerCall(), r.segmentAudioRatio(),
                    r.bridgeCpuPerCallPct, r.processCpuPct, r.threads, r.heapMb, r.pacerSlips, r.vadRuns, r.vadFrames,
                    r.framesCompleted(), r.vadRuns == 0 ? 0.0 : (double) r.vadFrames / r.vadRuns, r.sendDropped, r.load,
                    r.passes() ? "PASS" : r.floorP99 > P99_LIMIT_MICROS
                            ? "FAIL (the host: an idle thread's p99 in this window was " + r.floorP99 + " us)" : "FAIL");
            System.out.printf(Locale.ROOT, "           packets timed in the window %d (%.2f of every call's every ptime),"
                    + " %d sent by a receive thread for the pacer; warm-up %d ms; machine floor during the window p99=%d us max=%d us;"
                            + " where the time went: tick start (pacer took the call) p99=%d us  %s%n",
                    r.timed, r.timed / (r.calls * seconds * 1000.0 / ptime), r.assistedTicks, r.warmupMs, r.floorP99, r.floorMax,
                    r.tickStartP99, r.where);
            System.out.printf(Locale.ROOT, "           receive backlog at the window's end %d packets (%.2f s a call);"
                            + " whole step after the drain: segment audio %.2f x speech sent (%.0f s), silero frames=%d; %s%n",
                    r.backlogPackets, r.backlogPackets * 0.020 / r.calls,
                    r.stepSpeechSeconds == 0 ? 0 : r.stepSegmentSeconds / r.stepSpeechSeconds, r.stepSpeechSeconds,
                    r.stepVadFrames, r.receiveLag());
            if (r.callerSideGaps > 0 || r.bridgeSideLost > 0
                    || r.processCpuPct > 90.0 * Runtime.getRuntime().availableProcessors()) {
                break; // losing packets or out of CPU: larger steps only take longer to fail
            }
        }
        vads.close();
        StepResult best = null;
        for (StepResult r : results) {
            if (r.passes() && (best == null || r.calls > best.calls)) {
                best = r;
            }
        }
        StepResult lastStep = results.get(results.size() - 1);
        System.out.printf(Locale.ROOT,
                "bench=media-load vad=%s vad_batch=%s assist=%s ptime_ms=%d cores=%d busy=%d floor_p99_us=%d max_calls=%d p99_us_at_max=%d"
                        + " cpu_per_call_pct=%.2f segments_per_call_last=%.1f segment_audio_ratio_last=%.2f"
                        + " lost_last=%d p99_us_last=%d floor_window_p99_us_last=%d threads_last=%d receive_lag_max_us_last=%d"
                        + " load=%.1f steps=%s%n",
                vadName, batch ? "on" : "off", assist ? "on" : "off", ptime, Runtime.getRuntime().availableProcessors(), busy,
                floor[1], best == null ? 0 : best.calls, best == null ? -1 : best.p99,
                best == null ? -1.0 : best.bridgeCpuPerCallPct, lastStep.segmentsPerCall(), lastStep.segmentAudioRatio(),
                lastStep.bridgeSideLost + lastStep.callerSideGaps, lastStep.p99, lastStep.floorP99, lastStep.threads,
                lastStep.receiveLagMaxMicros(), loadAverage(),
                results.stream().map(r -> r.calls + (r.passes() ? "ok" : "fail")).toList().toString().replace(" ", ""));
    }

    private static double loadAverage() {
        return ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
    }

    private static StepResult runStep(int calls, int seconds, int ptime, VadFactory vads, short[] speech, int busy,
                                      boolean batch, int rxThreads, boolean assist) throws Exception {
        InetAddress lo = InetAddress.getLoopbackAddress();
        CountingMediaMetrics metrics = new CountingMediaMetrics();
        LongAdder segments = new LongAdder();
        LongAdder segmentMicros = new LongAdder();
        MediaListener listener = new MediaListener() {
            @Override
            public void onSegment(Segment s) {
                segments.increment();
                segmentMicros.add(s.durationMicros());
            }
        };
        // the bridge's own thread counts (RtpPacer.shared(), RtpReceivers.shared()), named so their CPU can be read
        int cores = Runtime.getRuntime().availableProcessors();
        RtpPacer pacer = new RtpPacer("bench-pacer", Math.max(1, cores / 4));
        RtpReceivers receivers = new RtpReceivers("rtp-rx", rxThreads, batch).assist(assist ? pacer : null);
        MediaConfig config = MediaConfig.defaults(vads).withPacer(pacer).withReceivers(receivers).withMetrics(metrics)
                .withBargeInMinSpeechMs(Integer.MAX_VALUE / 2);
        RtpPortAllocator ports = new RtpPortAllocator(lo, 40_000, 49_998);
        List<MediaSession> sessions = new ArrayList<>();
        byte[] reply = replyChunk();
        java.util.concurrent.atomic.AtomicBoolean busyOn = new java.util.concurrent.atomic.AtomicBoolean(true);
        List<Thread> hogs = new ArrayList<>();
        try (RtpLoadGenerator generator = new RtpLoadGenerator(speech)) {
            for (int i = 0; i < calls; i++) {
                RtpLoadGenerator.Caller caller = generator.addCaller(new InetSocketAddress(lo, 0));
                MediaSession s = MediaSession.open(config, ports, MuLaw.INSTANCE, ptime, caller.localAddress());
                caller.bridge = s.localAddress();
                sessions.add(s);
            }
            int replyChunks = seconds + 4 + MAX_WARMUP_SECONDS; // the reply outlasts set-up, warm-up and window
            for (MediaSession s : sessions) {
                s.start(listener);
                for (int c = 0; c < replyChunks; c++) {
                    s.playChunk(0, 0, c, reply, c == replyChunks - 1);
                }
            }
            generator.start();
            for (int i = 0; i < busy; i++) {
                Thread t = new Thread(() -> {
                    long x = 0;
                    while (busyOn.get()) {
                        x += System.nanoTime() & 3;
                    }
                    if (x == -1) {
                        System.out.print("");
                    }
                }, "bench-busy-" + i);
                t.setDaemon(true);
                t.start();
                hogs.add(t);
            }
            // warm-up: first packets, the VAD's first frames, and the JIT: at least 2 s, then until the compilers spent
            // under 5 % of a second's CPU in the last second (at most MAX_WARMUP_SECONDS). With a fixed 2 s the C1/C2 threads still
            // took 1.0-1.3 s of CPU inside the 8 s window of the first step (schedstat, 200 calls, 04:25 UTC): the
            // window measured the JIT next to the pacer, not the bridge a long-running process has.
            long warmupMs = warmUp();
            for (MediaSession s : sessions) {
                s.sendLateness().clear();
            }
            ThreadMXBean threads = ManagementFactory.getThreadMXBean();
            com.sun.management.OperatingSystemMXBean os =
                    (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
            long bridgeCpu0 = bridgeThreadCpuNanos(threads);
            long processCpu0 = os.getProcessCpuTime();
            long segments0 = segments.sum();
            long segmentMicros0 = segmentMicros.sum();
            long callerPackets0 = generator.sent.get();
            long[] vadBatch0 = receivers.vadBatchRunsAndFrames();
            pacer.takeRecentLateness();
            long assisted0 = pacer.assistedTicks();
            ThreadSchedule.Snapshot sched0 = SCHEDULE.take();
            LatencyHistogram floorDuring = new LatencyHistogram();
            Thread floorThread = floorThread(floorDuring, seconds);
            receivers.takeMaxReceiveLagNanos();
            long[] lag = new long[seconds * 1000 / LAG_SAMPLE_MS];
            long wall0 = System.nanoTime();
            for (int i = 0; i < lag.length; i++) {  // the window, read as the overload guard reads the receive lag
                long due = wall0 + (i + 1) * LAG_SAMPLE_MS * 1_000_000L;
                long wait;
                while ((wait = due - System.nanoTime()) > 0) {
                    java.util.concurrent.locks.LockSupport.parkNanos(wait);
                }
                lag[i] = receivers.takeMaxReceiveLagNanos() / 1000;
            }
            long wall = System.nanoTime() - wall0;
            floorThread.join();
            long receivedAtEnd = 0;
            for (MediaSession s : sessions) {
                receivedAtEnd += s.stats().packetsReceived();
            }
            long backlog = Math.max(0, generator.sent.get() - receivedAtEnd);
            ThreadSchedule.Snapshot sched1 = SCHEDULE.take();
            LatencyHistogram wake = pacer.takeRecentLateness();
            long assistedTicks = pacer.assistedTicks() - assisted0;
            long callerPackets = generator.sent.get() - callerPackets0;
            long[] vadBatch1 = receivers.vadBatchRunsAndFrames();
            long vadRuns = vadBatch1[0] - vadBatch0[0];
            long vadFrames = vadBatch1[1] - vadBatch0[1];
            long windowSegments = segments.sum() - segments0;
            double windowSegmentSeconds = (segmentMicros.sum() - segmentMicros0) / 1e6;
            long bridgeCpu = bridgeThreadCpuNanos(threads) - bridgeCpu0;
            long processCpu = os.getProcessCpuTime() - processCpu0;
            int threadCount = threads.getThreadCount();
            Runtime rt = Runtime.getRuntime();
            long heapMb = (rt.totalMemory() - rt.freeMemory()) >> 20;
            double load = loadAverage();
            LatencyHistogram all = new LatencyHistogram();
            for (MediaSession s : sessions) {
                s.sendLateness().addTo(all);
            }
            long callersSent = generator.sent.get();
            generator.stopSending();
            busyOn.set(false);
            for (MediaSession s : sessions) {
                s.stopPlayback();
            }
            // let the last packets land and the bridge's backlog drain (at most 30 s)
            long stableSince = System.nanoTime();
            long lastReceived = -1;
            long drainEnd = System.nanoTime() + 30_000_000_000L;
            while (System.nanoTime() - stableSince < 300_000_000L && System.nanoTime() < drainEnd) {
                long received = 0;
                for (MediaSession s : sessions) {
                    received += s.stats().packetsReceived();
                }
                if (received != lastReceived) {
                    lastReceived = received;
                    stableSince = System.nanoTime();
                }
                Thread.sleep(50);
            }
            long[] vadBatchEnd = receivers.vadBatchRunsAndFrames();
            long sent = 0;
            long lost = 0;
            long received = 0;
            for (MediaSession s : sessions) {
                MediaStats st = s.stats();
                sent += st.packetsSent();
                received += st.packetsReceived();
                lost += st.packetsLost() + st.packetsLate();
            }
            lost += Math.max(0, callersSent - received - lost); // dropped at the tail (after the last one received)
            long got = 0;
            long gaps = 0;
            double jitter = 0;
            for (RtpLoadGenerator.Caller c : generator.callers()) {
                got += c.received.get();
                gaps += c.gaps.get();
                jitter += c.jitterMs;
            }
            return new StepResult(calls, all.percentileMicros(0.5), all.percentileMicros(0.99), all.maxMicros(), sent,
                    got, gaps, jitter / calls, callersSent, lost, windowSegments, windowSegmentSeconds,
                    callerPackets * ptimeSecondsOfCaller(), 100.0 * bridgeCpu / wall / calls,
                    100.0 * processCpu / wall, pacer.slips(), threadCount, heapMb, load, vadRuns, vadFrames,
                    metrics.sendDropped.sum(), wake.percentileMicros(0.99),
                    ThreadSchedule.describeSince(sched0, sched1), warmupMs, floorDuring.percentileMicros(0.99),
                    floorDuring.maxMicros(), backlog, segments.sum(), segmentMicros.sum() / 1e6,
                    callersSent * ptimeSecondsOfCaller(), vadBatchEnd[1], all.count(), assistedTicks, lag);
        } finally {
            busyOn.set(false);
            for (MediaSession s : sessions) {
                s.close();
            }
            pacer.close();
            receivers.close();
        }
    }

    /**
     * Sleeps at least 2 s, then until the JIT compilers used under 50 ms in the last second (at most
     * {@value #MAX_WARMUP_SECONDS} s in all).
     * Returns the warm-up in ms.
     */
    private static long warmUp() throws InterruptedException {
        java.lang.management.CompilationMXBean jit = ManagementFactory.getCompilationMXBean();
        long start = System.nanoTime();
        Thread.sleep(2_000);
        if (jit != null && jit.isCompilationTimeMonitoringSupported()) {
            long before = jit.getTotalCompilationTime();
            while (System.nanoTime() - start < MAX_WARMUP_SECONDS * 1_000_000_000L) {
                Thread.sleep(1_000);
                long now = jit.getTotalCompilationTime();
                if (now - before < 50) {
                    break;
                }
                before = now;
            }
        }
        return (System.nanoTime() - start) / 1_000_000;
    }

    /**
     * The machine floor measured during the window itself ({@link #schedulingFloor}'s thread, at the pacer's
     * priority): what the host did to any thread of this process in those seconds (a stall here is not the bridge).
     */
    private static Thread floorThread(LatencyHistogram h, int seconds) {
        Thread t = new Thread(() -> wakeEvery20Ms(h, seconds), "bench-floor-window");
        t.setPriority(Thread.MAX_PRIORITY);
        t.setDaemon(true);
        t.start();
        return t;
    }

    /** Wakes at absolute 20 ms deadlines for {@code seconds} and records each wake-up's lateness in microseconds. */
    private static void wakeEvery20Ms(LatencyHistogram h, int seconds) {
        long start = System.nanoTime();
        for (long n = 1; n <= seconds * 50L; n++) {
            long due = start + n * 20_000_000L;
            long wait;
            while ((wait = due - System.nanoTime()) > 0) {
                java.util.concurrent.locks.LockSupport.parkNanos(wait);
            }
            h.record((System.nanoTime() - due) / 1000);
        }
    }

    /** The load generator's packets are 20 ms of audio whatever the bridge's ptime. */
    private static double ptimeSecondsOfCaller() {
        return 0.020;
    }

    /**
     * What the machine alone costs: a thread doing nothing but wake at absolute 20 ms deadlines, at the
     * pacer's priority. Its lateness is the floor under any send-jitter figure on this host.
     */
    static long[] schedulingFloor(int seconds) throws InterruptedException {
        LatencyHistogram h = new LatencyHistogram();
        Thread t = new Thread(() -> wakeEvery20Ms(h, seconds), "bench-floor");
        t.setPriority(Thread.MAX_PRIORITY);
        t.start();
        t.join();
        return new long[] {h.percentileMicros(0.5), h.percentileMicros(0.99), h.maxMicros()};
    }

    private static long bridgeThreadCpuNanos(ThreadMXBean threads) {
        long total = 0;
        for (ThreadInfo info : threads.getThreadInfo(threads.getAllThreadIds())) {
            if (info != null && (info.getThreadName().startsWith("rtp-rx-") || info.getThreadName().startsWith("bench-pacer"))) {
                long t = threads.getThreadCpuTime(info.getThreadId());
                if (t > 0) {
                    total += t;
                }
            }
        }
        return total;
    }

    /** One second of 16 kHz reply audio: a vowel-like harmonic tone. */
    private static byte[] replyChunk() {
        ByteBuffer b = ByteBuffer.allocate(32_000).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < 16_000; i++) {
            double t = i / 16_000.0;
            double v = 0;
            for (int h = 1; h <= 8; h++) {
                v += Math.sin(2 * Math.PI * 140 * h * t) / h;
            }
            b.putShort((short) (v * 4000));
        }
        return b.array();
    }

    /** Caller audio: espeak-ng speech with pauses when the tools exist, else a syllable-modulated tone. */
    static short[] speech8k() {
        try {
            Path dir = Files.createTempDirectory("omnicall-bench");
            Path wav = dir.resolve("s.wav");
            Path raw = dir.resolve("s.raw");
            run("espeak-ng", "-v", "en-us", "-w", wav.toString(),
                    "I would like to change my booking to Friday evening, for four people please.");
            run("sox", wav.toString(), "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", "-t", "raw",
                    raw.toString(), "pad", "0", "1.0");
            byte[] bytes = Files.readAllBytes(raw);
            short[] pcm = new short[bytes.length / 2];
            ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asShortBuffer().get(pcm);
            return pcm;
        } catch (IOException | InterruptedException e) {
            short[] pcm = new short[8000 * 3];
            for (int i = 0; i < pcm.length; i++) {
                double t = i / 8000.0;
                double envelope = t < 2.0 ? Math.max(0, Math.sin(2 * Math.PI * 4 * t)) : 0;
                pcm[i] = (short) (envelope * 6000 * Math.sin(2 * Math.PI * 180 * t));
            }
            return pcm;
        }
    }

    private static void run(String... command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        p.getInputStream().readAllBytes();
        if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IOException(String.join(" ", command) + " failed");
        }
    }
}
