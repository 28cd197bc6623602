package dev.omnicall.app.bench;

import dev.omnicall.app.observe.PipelineMetrics;
import dev.omnicall.events.CallerText;
import dev.omnicall.events.SpeculationOutcome;
import dev.omnicall.events.TurnMetrics;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;

/**
 * Pipeline-overhead benchmark: K concurrent real SIP calls (sipp streaming espeak-ng speech as μ-law RTP)
 * through the whole app (bridge → caller-audio → streams → turn-requests → worker → response-audio →
 * bridge → RTP), for each K of {@code bench.k}. From {@code turn-metrics} it prints the first-audio latency
 * (end of caller speech → first RTP packet of the reply) and each stage of its split, p50 and p99, and the
 * part that is not model compute: bridge → request (bridge, Kafka, streams), request → inference (split into
 * request → worker, the Kafka hop, and worker queue, the wait for a batch slot), chunk → bridge (worker
 * producer, Kafka hop) and bridge → first RTP (playout). Then the CPU the round took, and one
 * {@code key=value} line.
 *
 * <p>Caller transcription on vs off: {@code bench.transcription} (default {@code off,on}) lists the app runs, each a
 * fresh app (own broker) with {@code omnicall.worker.transcribe.enabled} set accordingly, every K in each; repeat
 * entries ({@code off,on,off,on}) to interleave runs on a machine whose load drifts, and the summary pools the turns
 * of each mode. With transcription on it also prints the Whisper decoder's cost per utterance from the CallerText
 * records (decodeCpuUs: time in the decoder's own steps; decodeDoneUs - decodeStartUs: wall time, interleaved with
 * the reply). The summary compares first-audio p50/p99 per K between the modes.
 *
 * <pre>
 * ./mvnw -q -pl quarkus-app -am package -DskipTests
 * ./mvnw -q -o -pl quarkus-app test-compile exec:java -Dexec.classpathScope=test \
 *     -Dexec.mainClass=dev.omnicall.app.bench.PipelineBenchmark [-Dbench.k=1,10,50] [-Dbench.utterances=2] ...
 * </pre>
 *
 * Options (system properties): {@code bench.k} (1,10,50), {@code bench.rounds} (rounds per K in each run, one after
 * another, pooled in the summary: one count for every K, or one per K such as {@code 5,1}; 1), {@code bench.utterances} (1 or 2, default 2),
 * {@code bench.gap-s} (silence between utterances, 7), {@code bench.hold-s} (on the line after the audio, 6),
 * {@code bench.rate} (calls per second as a round dials, 10), {@code bench.app} (the started app's extra
 * settings, {@code ;}-separated, default tiny model with encoder-padded-seconds=0 and max-new-tokens=48),
 * {@code bench.jar}, {@code bench.ready-s} (how long the started app may take to be ready, 180), {@code bench.sip} + {@code bench.bootstrap} (host:port of a running app's SIP side and
 * its Kafka bootstrap: no app is started, one run with whatever transcription setting that app has; it must accept
 * unauthenticated calls from 127.0.0.1 at {@code bench.rate}), {@code bench.warmup} (one unmeasured call first,
 * true), {@code bench.transcription} (off,on), {@code bench.speculation} (off: each transcription run as it is; a list
 * such as {@code off,on,off,on} runs every transcription mode once per entry, interleaved in that order, with
 * speculative turns off or on ({@code on}: {@code omnicall.vad.speculative-silence-ms=200}; a number of ms sets it),
 * and prints per K the speculative turns confirmed and cancelled, the share cancelled, how long replies waited for
 * the confirmation and the model time spent on cancelled turns).
 */
public final class PipelineBenchmark {

    static final List<String> SENTENCES = List.of("Hello, what is the capital of France?",
            "And how many people live there?");
    static final List<String> NON_MODEL = List.of("bridge_to_request", "request_to_inference", "chunk_to_bridge",
            "bridge_to_rtp");
    static final List<String> MODEL = List.of("encoder_prefill", "first_units", "vocoder");
    /**
     * The non-model stages without the wait for a free worker slot: the Kafka hops, bridge and streams. Only
     * turns whose worker stamped requestConsumedUs (request_to_worker known) count here.
     */
    static final List<String> TRANSPORT = List.of("bridge_to_request", "request_to_worker", "chunk_to_bridge",
            "bridge_to_rtp");
    static final String DEFAULT_APP = "omnicall.model.encoder-padded-seconds=0;omnicall.model.max-new-tokens=48";
    /** Joins a run's transcription mode and its speculation setting in the run's name: {@code off+spec=on}. */
    static final String SPECULATION = "+spec=";
    /** {@code bench.speculation=on}: the end-of-turn silence after which a turn starts speculatively. */
    static final int SPECULATION_ON_MS = 200;
    /** The mode of a run against an app started elsewhere ({@code bench.sip}): its own transcription setting. */
    static final String RUNNING_APP = "as-running";

    private PipelineBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        List<Integer> ks = Arrays.stream(prop("bench.k", "1,10,50").split(",")).map(String::trim).map(Integer::parseInt)
                .distinct().toList();
        List<Integer> roundsList = Arrays.stream(prop("bench.rounds", "1").split(",")).map(String::trim)
                .map(Integer::parseInt).toList();
        if (roundsList.stream().anyMatch(r -> r < 1) || (roundsList.size() != 1 && roundsList.size() != ks.size())) {
            throw new IllegalArgumentException("bench.rounds must be one count >= 1 or one per K of " + ks + ", got " + roundsList);
        }
        Map<Integer, Integer> roundsPerK = new LinkedHashMap<>();
        for (int i = 0; i < ks.size(); i++) {
            roundsPerK.put(ks.get(i), roundsList.get(roundsList.size() == 1 ? 0 : i));
        }
        int utterances = Integer.parseInt(prop("bench.utterances", "2"));
        if (utterances < 1 || utterances > SENTENCES.size()) {
            throw new IllegalArgumentException("bench.utterances must be 1.." + SENTENCES.size() + ", got " + utterances);
        }
        double gapSeconds = Double.parseDouble(prop("bench.gap-s", "7"));
        double holdSeconds = Double.parseDouble(prop("bench.hold-s", "6"));
        double rate = Double.parseDouble(prop("bench.rate", "10"));
        boolean warmup = Boolean.parseBoolean(prop("bench.warmup", "true"));
        String sip = System.getProperty("bench.sip");
        List<String> transcriptionModes = sip != null ? List.of(RUNNING_APP)
                : Arrays.stream(prop("bench.transcription", "off,on").split(",")).map(String::trim).toList();
        if (!transcriptionModes.stream().allMatch(m -> m.equals("on") || m.equals("off") || m.equals(RUNNING_APP))) {
            throw new IllegalArgumentException("bench.transcription must list on and/or off, got " + transcriptionModes);
        }
        List<String> modes = transcriptionModes;
        List<String> speculation = Arrays.stream(prop("bench.speculation", "off").split(",")).map(String::trim).toList();
        if (sip == null && !speculation.equals(List.of("off"))) {
            // every transcription mode once per speculation entry, in the order given (interleaved runs)
            List<String> runs = new ArrayList<>();
            for (String spec : speculation) {
                speculationMs(spec); // validates
                for (String m : transcriptionModes) {
                    runs.add(m + SPECULATION + spec);
                }
            }
            modes = runs;
        }
        Path root = repoRoot();
        String stamp = LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"));
        Path scratch = Files.createDirectories(root.resolve("quarkus-app/target/bench-pipeline-" + stamp));

        Path audio = scratch.resolve("caller.ul");
        long audioMs = SippRound.writeAudio(scratch, SENTENCES.subList(0, utterances), gapSeconds, 3.0, audio);
        long holdMs = audioMs + (long) (holdSeconds * 1000);

        List<String> appProps = Arrays.stream(prop("bench.app", DEFAULT_APP).split(";")).map(String::trim)
                .filter(s -> !s.isEmpty()).toList();
        System.out.printf("pipeline benchmark: K=%s, rounds per K %s, transcription runs %s, %d utterance(s) per call (%s), audio %.1f s, "
                        + "BYE after %.1f s, dialing %.0f calls/s, %d cores, load average %s%n", ks, roundsPerK, modes, utterances,
                String.join(" / ", SENTENCES.subList(0, utterances)), audioMs / 1000.0, holdMs / 1000.0, rate,
                Runtime.getRuntime().availableProcessors(), Arrays.toString(CpuSampler.loadAverage()));
        Map<String, Map<Integer, List<Round>>> byMode = new LinkedHashMap<>();
        for (int run = 0; run < modes.size(); run++) {
            String mode = modes.get(run);
            List<String> props = new ArrayList<>(appProps);
            if (!mode.equals(RUNNING_APP)) {
                props.add("omnicall.worker.transcribe.enabled=" + transcription(mode).equals("on"));
            }
            if (mode.contains(SPECULATION)) {
                props.add("omnicall.vad.speculative-silence-ms=" + speculationMs(mode.substring(mode.indexOf(SPECULATION)
                        + SPECULATION.length())));
            } else if (!mode.equals(RUNNING_APP)) {
                props.add("omnicall.vad.speculative-silence-ms=0"); // bench.speculation=off: off, whatever the app's default
            }
            Path runDir = Files.createDirectories(scratch.resolve("run-" + run + "-transcription-" + mode.replace('+', '-')));
            System.out.printf("%n=== run %d of %d: transcription %s, load average %s ===%n", run + 1, modes.size(), mode,
                    Arrays.toString(CpuSampler.loadAverage()));
            try (AppUnderTest app = sip != null
                    ? AppUnderTest.attach(sip, prop("bench.bootstrap", "127.0.0.1:9092"))
                    : AppUnderTest.start(Path.of(prop("bench.jar", root.resolve("quarkus-app/target/quarkus-app/quarkus-run.jar").toString())),
                    root, runDir, props, Duration.ofSeconds(Integer.parseInt(prop("bench.ready-s", "180"))))) {
                System.out.println("app: " + app.describe() + (sip == null ? ", settings " + props : ""));
                String tag = "r" + run + "-" + stamp;
                if (warmup) {
                    Round w = round(app, runDir, "warmup-" + tag, 1, audio, holdMs, rate, utterances, mode);
                    System.out.printf("warm-up call: %d turn(s), first audio %s ms, %d caller text(s) (not counted)%n",
                            w.complete().size(), w.complete().stream().map(m -> fmt(m.getFirstAudioLatencyUs() / 1000.0)).toList(),
                            w.callerTexts().size());
                }
                if (app.process().isPresent()) {
                    CpuSampler idle = new CpuSampler(app.process());
                    Thread.sleep(10_000);
                    CpuSampler.Result r = idle.finish(10_000);
                    System.out.printf(Locale.ROOT, "app idle (no calls, 10 s after the warm-up): %.2f CPU-s per s; machine busy %.0f %%"
                            + " (other users' work included)%n", r.appCpuSeconds() / r.wallSeconds(), r.machineBusyPercent());
                }
                for (int k : ks) {
                    for (int i = 0; i < roundsPerK.get(k); i++) {
                        Round r = round(app, runDir, "bench-" + tag + "-k" + k + "-" + i, k, audio,
                                holdMs, rate, utterances, mode);
                        r.print();
                        byMode.computeIfAbsent(mode, m -> new LinkedHashMap<>()).computeIfAbsent(k, x -> new ArrayList<>()).add(r);
                    }
                }
                System.out.printf("=== end of run %d: load average %s ===%n", run + 1, Arrays.toString(CpuSampler.loadAverage()));
            }
        }
        Map<String, String> keys = new LinkedHashMap<>();
        keys.put("bench", "pipeline");
        keys.put("ks", ks.stream().map(String::valueOf).reduce((a, b) -> a + "," + b).orElse(""));
        keys.put("utterances", String.valueOf(utterances));
        keys.put("rounds", roundsList.stream().map(String::valueOf).reduce((a, b) -> a + "," + b).orElse(""));
        keys.put("transcription_runs", String.join(",", modes));
        printSummary(ks, byMode, keys);
        StringBuilder line = new StringBuilder();
        keys.forEach((k, v) -> line.append(line.isEmpty() ? "" : " ").append(k).append('=').append(v));
        System.out.println(line);
    }

    /**
     * The runs pooled per transcription mode and K: first audio p50/p99 off vs on and the decoder's cost per
     * utterance; the pooled figures go into {@code keys} as {@code <mode>_k<K>_*}.
     */
    static void printSummary(List<Integer> ks, Map<String, Map<Integer, List<Round>>> byMode, Map<String, String> keys) {
        System.out.printf("%nsummary: first audio (speech end -> first RTP), ms, pooled over the runs of each mode%n");
        System.out.printf("  %-14s %4s %10s %9s %9s %9s %13s %9s %12s %12s %10s %16s%n", "transcription", "K", "turns", "p50", "p99",
                "model p50", "units p50/p99", "texts", "decode cpu", "decode wall", "tokens", "text delay");
        for (var mode : byMode.entrySet()) {
            for (int k : ks) {
                List<Round> rounds = mode.getValue().getOrDefault(k, List.of());
                Round pooled = Round.pool(k, rounds);
                Map<String, List<Double>> s = pooled.stagesMs();
                List<Double> cpu = millis(pooled.callerTexts(), c -> c.getDecodeCpuUs());
                List<Double> wall = millis(pooled.callerTexts(), c -> c.getDecodeDoneUs() - c.getDecodeStartUs());
                List<Double> tokens = pooled.callerTexts().stream().map(c -> (double) c.getTokenCount()).toList();
                List<Double> delay = callerTextDelaysMs(pooled.callerTexts());
                System.out.printf("  %-14s %4d %10s %9s %9s %9s %13s %9d %12s %12s %10s %16s%n", mode.getKey(), k,
                        pooled.complete().size() + "/" + pooled.k() * pooled.utterances() * rounds.size(),
                        fmt(percentile(s.get("first_audio"), 0.50)), fmt(percentile(s.get("first_audio"), 0.99)),
                        fmt(percentile(s.get("model"), 0.50)),
                        fmt(percentile(s.get("first_units"), 0.50)) + "/" + fmt(percentile(s.get("first_units"), 0.99)),
                        pooled.callerTexts().size(),
                        fmt(percentile(cpu, 0.50)) + "/" + fmt(percentile(cpu, 0.99)),
                        fmt(percentile(wall, 0.50)) + "/" + fmt(percentile(wall, 0.99)), fmt(percentile(tokens, 0.50)),
                        fmt(percentile(delay, 0.50)) + "/" + fmt(percentile(delay, 0.99)));
                String p = mode.getKey() + "_k" + k + "_";
                keys.put(p + "turns", String.valueOf(pooled.complete().size()));
                keys.put(p + "first_audio_p50_ms", fmt(percentile(s.get("first_audio"), 0.50)));
                keys.put(p + "first_audio_p99_ms", fmt(percentile(s.get("first_audio"), 0.99)));
                keys.put(p + "model_p50_ms", fmt(percentile(s.get("model"), 0.50)));
                keys.put(p + "first_units_p50_ms", fmt(percentile(s.get("first_units"), 0.50)));
                keys.put(p + "first_units_p99_ms", fmt(percentile(s.get("first_units"), 0.99)));
                keys.put(p + "encoder_prefill_p50_ms", fmt(percentile(s.get("encoder_prefill"), 0.50)));
                keys.put(p + "transport_p50_ms", fmt(percentile(s.get("transport"), 0.50)));
                keys.put(p + "caller_texts", String.valueOf(pooled.callerTexts().size()));
                keys.put(p + "decode_cpu_p50_ms", fmt(percentile(cpu, 0.50)));
                keys.put(p + "decode_cpu_p99_ms", fmt(percentile(cpu, 0.99)));
                keys.put(p + "decode_wall_p50_ms", fmt(percentile(wall, 0.50)));
                keys.put(p + "caller_text_delay_p50_ms", fmt(percentile(delay, 0.50)));
                keys.put(p + "caller_text_delay_p99_ms", fmt(percentile(delay, 0.99)));
                keys.put(p + "caller_text_delay_max_ms", fmt(percentile(delay, 1.0)));
                keys.put(p + "request_to_first_audio_p50_ms", fmt(percentile(requestToFirstAudioMs(pooled.callerTexts()), 0.50)));
                keys.put(p + "caller_text_after_first_audio_p50_ms",
                        fmt(percentile(callerTextAfterFirstAudioMs(pooled.callerTexts()), 0.50)));
                keys.put(p + "caller_text_after_first_audio_p99_ms",
                        fmt(percentile(callerTextAfterFirstAudioMs(pooled.callerTexts()), 0.99)));
                if (mode.getKey().contains(SPECULATION)) {
                    keys.put(p + "spec_confirmed", String.valueOf(pooled.speculative(SpeculationOutcome.CONFIRMED).size()));
                    keys.put(p + "spec_cancelled", String.valueOf(pooled.speculative(SpeculationOutcome.CANCELLED).size()));
                    keys.put(p + "spec_cancelled_share", fmt(pooled.cancelledShare()));
                    keys.put(p + "confirm_wait_p50_ms", fmt(percentile(pooled.confirmWaitMs(), 0.50)));
                    keys.put(p + "cancelled_work_ms", fmt(pooled.cancelledWorkMs()));
                    System.out.printf(Locale.ROOT, "  %-14s %4d speculative turns: %d confirmed, %d cancelled (share %s);"
                                    + " reply waited for the confirmation p50 %s ms; model time on cancelled turns %s ms in all%n",
                            mode.getKey(), k, pooled.speculative(SpeculationOutcome.CONFIRMED).size(),
                            pooled.speculative(SpeculationOutcome.CANCELLED).size(), fmt(pooled.cancelledShare()),
                            fmt(percentile(pooled.confirmWaitMs(), 0.50)), fmt(pooled.cancelledWorkMs()));
                }
                keys.put(p + "load1_max", String.format(Locale.ROOT, "%.2f",
                        rounds.stream().mapToDouble(r -> r.cpu().load1Max()).max().orElse(Double.NaN)));
            }
        }
        System.out.printf("  by turn of the call (p50 ms): first audio / encoder_prefill / first_units%n");
        for (var mode : byMode.entrySet()) {
            for (int k : ks) {
                Round pooled = Round.pool(k, mode.getValue().getOrDefault(k, List.of()));
                pooled.byTurn().forEach((turn, r) -> {
                    Map<String, List<Double>> s = r.stagesMs();
                    String p = mode.getKey() + "_k" + k + "_turn" + turn + "_";
                    keys.put(p + "first_audio_p50_ms", fmt(percentile(s.get("first_audio"), 0.50)));
                    keys.put(p + "first_units_p50_ms", fmt(percentile(s.get("first_units"), 0.50)));
                    System.out.printf("  %-14s %4d turn %d (%d): %s / %s / %s%n", mode.getKey(), k, turn, r.complete().size(),
                            fmt(percentile(s.get("first_audio"), 0.50)), fmt(percentile(s.get("encoder_prefill"), 0.50)),
                            fmt(percentile(s.get("first_units"), 0.50)));
                });
            }
        }
        System.out.println("  (decode cpu: time in the decoder's own steps per utterance, p50/p99; decode wall: decoder start to"
                + " done, interleaved with the reply's steps; tokens: text tokens per utterance, p50; text delay: the worker"
                + " reading the request to its CallerText done, p50/p99, the figure omnicall.worker.transcribe.max-delay bounds)");
    }

    /** One round: K calls dialled together, then their turn-metrics gathered until quiet. */
    static Round round(AppUnderTest app, Path scratch, String tag, int k, Path audio, long holdMs, double rate,
                       int utterances, String mode) throws Exception {
        try (RoundCollector collector = new RoundCollector(app.bootstrap(), tag)) {
            CpuSampler cpu = new CpuSampler(app.process());
            long t0 = System.nanoTime();
            SippRound sipp = SippRound.start(scratch, app.sipHost(), app.sipPort(), tag, audio, holdMs, k, rate);
            long limitSeconds = holdMs / 1000 + (long) (k / rate) + 120;
            int exit;
            while (true) {
                cpu.sample(Optional.of(sipp.handle()));
                if (!sipp.handle().isAlive()) {
                    exit = sipp.await(5);
                    break;
                }
                if ((System.nanoTime() - t0) / 1_000_000_000L > limitSeconds) {
                    exit = sipp.await(0);
                    break;
                }
                Thread.sleep(1000);
            }
            long sippDone = System.nanoTime();
            // Every call ended, and turn-metrics quiet for 3 s (CallEnded flushes half-finished turns), at most 60 s.
            while ((collector.callsEnded() < collector.callsStarted() || collector.quietMillis() < 3000)
                    && (System.nanoTime() - sippDone) < 60_000_000_000L) {
                cpu.sample(Optional.empty());
                Thread.sleep(500);
            }
            CpuSampler.Result used = cpu.finish((System.nanoTime() - t0) / 1_000_000);
            Map<String, String> stats = sipp.stats();
            if (exit != 0) {
                System.out.printf("K=%d: sipp exited with %d (%s); errors: %s%n", k, exit, sipp.dir(),
                        sipp.errors().lines().limit(6).toList());
            }
            return new Round(mode, k, utterances, collector.callsStarted(), stats.getOrDefault("SuccessfulCall(C)", "?"),
                    stats.getOrDefault("FailedCall(C)", "?"), collector.metrics(), collector.callerTexts(),
                    collector.bargeIns(), collector.unreadable(), used);
        }
    }

    record Round(String mode, int k, int utterances, int callsStarted, String sippOk, String sippFailed,
                 List<TurnMetrics> metrics, List<CallerText> callerTexts, int bargeIns, int unreadable, CpuSampler.Result cpu) {

        /** The turns and caller texts of several rounds of one mode and K, for the summary (cpu: the last round's). */
        static Round pool(int k, List<Round> rounds) {
            List<TurnMetrics> metrics = new ArrayList<>();
            List<CallerText> texts = new ArrayList<>();
            rounds.forEach(r -> {
                metrics.addAll(r.metrics());
                texts.addAll(r.callerTexts());
            });
            Round last = rounds.isEmpty() ? null : rounds.get(rounds.size() - 1);
            return new Round(last == null ? "" : last.mode(), k, last == null ? 0 : last.utterances(),
                    rounds.stream().mapToInt(Round::callsStarted).sum(), "", "", metrics, texts,
                    rounds.stream().mapToInt(Round::bargeIns).sum(), 0, last == null ? null : last.cpu());
        }

        /** The turn metrics of speculative turns with this outcome. */
        List<TurnMetrics> speculative(SpeculationOutcome outcome) {
            return metrics.stream().filter(m -> m.getSpeculation() == outcome).toList();
        }

        /** Cancelled speculative turns over all speculative turns; NaN without any. */
        double cancelledShare() {
            int cancelled = speculative(SpeculationOutcome.CANCELLED).size();
            int all = cancelled + speculative(SpeculationOutcome.CONFIRMED).size();
            return all == 0 ? Double.NaN : (double) cancelled / all;
        }

        List<Double> confirmWaitMs() {
            return millis(speculative(SpeculationOutcome.CONFIRMED), TurnMetrics::getConfirmWaitUs);
        }

        /** Model time spent on cancelled speculative turns, summed (ms). */
        double cancelledWorkMs() {
            return speculative(SpeculationOutcome.CANCELLED).stream().map(TurnMetrics::getCancelledWorkUs)
                    .filter(v -> v != null).mapToLong(Long::longValue).sum() / 1000.0;
        }

        /**
         * The round's turns split by their index in the call (0: the first sentence; 1: the second, whose prompt
         * carries turn 0 as history: the caller's words with transcription on, a placeholder without).
         */
        Map<Integer, Round> byTurn() {
            Map<Integer, Round> out = new java.util.TreeMap<>();
            for (TurnMetrics m : metrics) {
                out.computeIfAbsent(m.getTurnId(), t -> new Round(mode, k, 1, callsStarted, sippOk, sippFailed,
                        new ArrayList<>(), List.of(), 0, 0, cpu)).metrics().add(m);
            }
            return out;
        }

        /** Turns whose first audio reached the caller (every stage present). */
        List<TurnMetrics> complete() {
            return metrics.stream().filter(m -> m.getFirstAudioLatencyUs() != null).toList();
        }

        Map<String, List<Double>> stagesMs() {
            Map<String, List<Double>> out = new LinkedHashMap<>();
            out.put("first_audio", millis(complete(), TurnMetrics::getFirstAudioLatencyUs));
            for (String stage : PipelineMetrics.STAGES) {
                out.put(stage, millis(complete(), m -> stages(m).get(stage)));
            }
            out.put("non_model", sums(NON_MODEL));
            out.put("transport", sums(TRANSPORT));
            out.put("model", sums(MODEL));
            return out;
        }

        private List<Double> sums(List<String> stages) {
            List<Double> out = new ArrayList<>();
            for (TurnMetrics m : complete()) {
                Map<String, Long> v = stages(m);
                if (v.keySet().containsAll(stages)) {
                    out.add(stages.stream().mapToLong(v::get).sum() / 1000.0);
                }
            }
            return out;
        }

        /**
         * The dashboard's stages plus request_to_inference for every turn, split or not: the table shows the
         * whole span next to its two parts, and the non-model sum needs it either way.
         */
        private static Map<String, Long> stages(TurnMetrics m) {
            Map<String, Long> v = new LinkedHashMap<>(PipelineMetrics.stageValues(m));
            if (m.getRequestToInferenceUs() != null) {
                v.put("request_to_inference", m.getRequestToInferenceUs());
            }
            return v;
        }

        void print() {
            System.out.printf("%nK=%d, transcription %s: %d calls started (sipp: %s ok, %s failed), %d of %d turns measured, %d partial "
                            + "(no first RTP: barged in or call ended first), %d barge-ins, %d caller texts%s%n", k, mode,
                    callsStarted, sippOk,
                    sippFailed, complete().size(), k * utterances,
                    metrics.size() - complete().size() - speculative(SpeculationOutcome.CANCELLED).size(), bargeIns,
                    callerTexts.size(), unreadable > 0 ? ", " + unreadable + " unreadable records" : "");
            if (!speculative(SpeculationOutcome.CONFIRMED).isEmpty() || !speculative(SpeculationOutcome.CANCELLED).isEmpty()) {
                System.out.printf("  speculative turns: %d confirmed, %d cancelled (share %s); confirmation wait p50 %s ms, "
                                + "p99 %s ms; model time on cancelled turns %s ms%n",
                        speculative(SpeculationOutcome.CONFIRMED).size(), speculative(SpeculationOutcome.CANCELLED).size(),
                        fmt(cancelledShare()), fmt(percentile(confirmWaitMs(), 0.50)), fmt(percentile(confirmWaitMs(), 0.99)),
                        fmt(cancelledWorkMs()));
            }
            System.out.printf("  %-46s %9s %9s %9s%n", "stage (ms)", "p50", "p99", "max");
            stagesMs().forEach((stage, values) -> System.out.printf("  %-46s %9s %9s %9s%n", label(stage),
                    fmt(percentile(values, 0.50)), fmt(percentile(values, 0.99)), fmt(percentile(values, 1.0))));
            byTurn().forEach((turn, r) -> System.out.printf("  turn %d of the calls (%d turns): first audio p50 %s, "
                            + "encoder_prefill p50 %s, first_units p50 %s ms%n", turn, r.complete().size(),
                    fmt(percentile(r.stagesMs().get("first_audio"), 0.50)),
                    fmt(percentile(r.stagesMs().get("encoder_prefill"), 0.50)),
                    fmt(percentile(r.stagesMs().get("first_units"), 0.50))));
            if (!callerTexts.isEmpty()) {
                List<Double> delay = callerTextDelaysMs(callerTexts);
                System.out.printf("  %-46s %9s %9s %9s%n", "caller text delay (request read -> CallerText)",
                        fmt(percentile(delay, 0.50)), fmt(percentile(delay, 0.99)), fmt(percentile(delay, 1.0)));
                List<Double> toAudio = requestToFirstAudioMs(callerTexts);
                List<Double> afterAudio = callerTextAfterFirstAudioMs(callerTexts);
                System.out.printf("  %-46s %9s %9s %9s%n", "  of which request read -> first audio",
                        fmt(percentile(toAudio, 0.50)), fmt(percentile(toAudio, 0.99)), fmt(percentile(toAudio, 1.0)));
                System.out.printf("  %-46s %9s %9s %9s%n", "  and first audio -> CallerText",
                        fmt(percentile(afterAudio, 0.50)), fmt(percentile(afterAudio, 0.99)), fmt(percentile(afterAudio, 1.0)));
                List<Double> chars = callerTexts.stream().map(c -> (double) c.getText().length()).toList();
                System.out.printf("  %-46s %9s %9s %9s%n", "caller text length (chars; history of the next turn)",
                        fmt(percentile(chars, 0.50)), fmt(percentile(chars, 0.99)), fmt(percentile(chars, 1.0)));
            }
            System.out.printf(Locale.ROOT, "  cpu: machine busy %.0f %% of %d cores, app %.1f CPU-s (%.0f %% of the machine), "
                            + "sipp %.1f CPU-s, over %.1f s; load average 1 min %.2f at the end (max %.2f)%n",
                    cpu.machineBusyPercent(), cpu.cores(), cpu.appCpuSeconds(), cpu.appPercentOfMachine(),
                    cpu.sippCpuSeconds(), cpu.wallSeconds(), cpu.load1End(), cpu.load1Max());
        }

        private static String label(String stage) {
            return switch (stage) {
                case "first_audio" -> "first audio (speech end -> first RTP)";
                case "non_model" -> "non-model: Kafka hops + bridge + streams";
                case "transport" -> "  of which transport (without worker_queue)";
                case "request_to_worker" -> "  request_to_worker (Kafka hop)";
                case "worker_queue" -> "  worker_queue (wait for a batch slot)";
                case "request_to_inference" -> "  request_to_inference (both, all turns)";
                case "model" -> "model: encoder+prefill + first units + vocoder";
                default -> "  " + stage;
            };
        }
    }

    /**
     * Each CallerText's delay from the worker reading its request ({@code timings.requestConsumedUs}) to the end of its
     * decoding ({@code decodeDoneUs}, when the worker hands it to the producer), ms; records without the stamp are left out.
     */
    static List<Double> callerTextDelaysMs(List<CallerText> texts) {
        return texts.stream().filter(c -> c.getTimings() != null && c.getTimings().getRequestConsumedUs() != null)
                .map(c -> (c.getDecodeDoneUs() - c.getTimings().getRequestConsumedUs()) / 1000.0).toList();
    }

    /** Request read to the turn's first audio at the worker, ms, for CallerTexts of turns that had first audio. */
    static List<Double> requestToFirstAudioMs(List<CallerText> texts) {
        return texts.stream().filter(c -> c.getTimings() != null && c.getTimings().getRequestConsumedUs() != null
                        && c.getTimings().getFirstAudioUs() != null)
                .map(c -> (c.getTimings().getFirstAudioUs() - c.getTimings().getRequestConsumedUs()) / 1000.0).toList();
    }

    /**
     * The turn's first audio to its CallerText, ms: the part of the caller-text delay after the transcript may run at
     * all (a turn's own transcript never runs before its own first audio).
     */
    static List<Double> callerTextAfterFirstAudioMs(List<CallerText> texts) {
        return texts.stream().filter(c -> c.getTimings() != null && c.getTimings().getFirstAudioUs() != null)
                .map(c -> (c.getDecodeDoneUs() - c.getTimings().getFirstAudioUs()) / 1000.0).toList();
    }

    static <T> List<Double> millis(List<T> ms, Function<T, Long> us) {
        return ms.stream().map(us).filter(v -> v != null).map(v -> v / 1000.0).toList();
    }

    /** Nearest-rank percentile; NaN for no values. */
    static double percentile(List<Double> values, double q) {
        if (values.isEmpty()) {
            return Double.NaN;
        }
        double[] s = values.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        int rank = (int) Math.ceil(q * s.length);
        return s[Math.max(0, Math.min(s.length - 1, rank - 1))];
    }

    static String fmt(double v) {
        return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.1f", v);
    }

    /** The transcription part of a run's mode. */
    static String transcription(String mode) {
        int at = mode.indexOf(SPECULATION);
        return at < 0 ? mode : mode.substring(0, at);
    }

    /** off: 0; on: {@link #SPECULATION_ON_MS}; a number: that many ms. */
    static int speculationMs(String spec) {
        return switch (spec) {
            case "off" -> 0;
            case "on" -> SPECULATION_ON_MS;
            default -> {
                try {
                    yield Integer.parseInt(spec);
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("bench.speculation entries are off, on or a number of ms, got " + spec);
                }
            }
        };
    }

    private static String prop(String key, String fallback) {
        String v = System.getProperty(key);
        return v == null || v.isBlank() ? fallback : v;
    }

    /** The checkout's root: the working directory or a parent of it that holds quarkus-app/ and bin/call. */
    static Path repoRoot() {
        Path p = Path.of("").toAbsolutePath();
        while (p != null) {
            if (Files.isDirectory(p.resolve("quarkus-app")) && Files.isRegularFile(p.resolve("bin/call"))) {
                return p;
            }
            p = p.getParent();
        }
        throw new IllegalStateException("run from the checkout (no quarkus-app/ and bin/call above " + Path.of("").toAbsolutePath() + ")");
    }
}
