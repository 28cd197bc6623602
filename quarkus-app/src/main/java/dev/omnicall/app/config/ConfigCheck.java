package dev.omnicall.app.config;

import dev.omnicall.model.LengthPenalty;
import dev.omnicall.model.TorchThreads;
import dev.omnicall.model.omni2.TtsSampling;
import dev.omnicall.model.omni2.TtsSchedule;
import dev.omnicall.worker.AdmissionMargin;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Range and combination checks of {@link OmniCallConfig} that types alone cannot express. Every problem
 * is reported at once, each naming its key, its value and what is allowed, so one restart fixes them all.
 */
public final class ConfigCheck {

    private static final Pattern DEVICE = Pattern.compile("cpu|gpu:\\d+");
    private static final Set<String> TRANSPORTS = Set.of("udp", "tcp");
    private static final Set<String> SERDE_KINDS = Set.of("embedded", "apicurio", "confluent");
    private static final Set<String> VAD_KINDS = Set.of("silero", "energy");

    private ConfigCheck() {
    }

    /** Thrown when the configuration is invalid; the message lists every problem, one per line. */
    public static final class InvalidConfigException extends RuntimeException {
        private final List<String> problems;

        public InvalidConfigException(List<String> problems) {
            super("invalid OmniCall configuration:\n  - " + String.join("\n  - ", problems));
            this.problems = List.copyOf(problems);
        }

        public List<String> problems() {
            return problems;
        }
    }

    /** The problems found; empty when the configuration is usable. */
    public static List<String> problems(OmniCallConfig c) {
        List<String> p = new ArrayList<>();
        if (c.roles().isEmpty()) {
            p.add("omnicall.roles is empty: name at least one of bridge, worker, streams");
        }
        if (c.instanceId().isBlank() || !c.instanceId().matches("[A-Za-z0-9._-]+")) {
            p.add("omnicall.instance-id='" + c.instanceId() + "' must be letters, digits, '.', '_' or '-'");
        }

        var kafka = c.kafka();
        atLeast(p, "omnicall.kafka.partitions", kafka.partitions(), 1);
        atLeast(p, "omnicall.kafka.replication-factor", kafka.replicationFactor(), 1);
        port(p, "omnicall.kafka.embedded.port", kafka.embedded().port(), true);
        port(p, "omnicall.kafka.embedded.controller-port", kafka.embedded().controllerPort(), true);

        String serde = c.serde().kind().trim().toLowerCase(Locale.ROOT);
        if (!SERDE_KINDS.contains(serde)) {
            p.add("omnicall.serde.kind='" + c.serde().kind() + "' is not one of embedded, apicurio, confluent");
        } else if (!serde.equals("embedded") && c.serde().registryUrl().filter(u -> !u.isBlank()).isEmpty()) {
            p.add("omnicall.serde.kind=" + serde + " needs omnicall.serde.registry-url");
        }

        var model = c.model();
        if (!DEVICE.matcher(model.device()).matches()) {
            p.add("omnicall.model.device='" + model.device() + "' must be cpu or gpu:N (N = GPU index)");
        }
        if (model.omega().isEmpty() || model.omega().stream().anyMatch(o -> o == null || o < 1)) {
            p.add("omnicall.model.omega=" + model.omega() + " must be one or more unit counts, each >= 1");
        }
        atLeast(p, "omnicall.model.max-new-tokens", model.maxNewTokens(), 1);
        model.encoderPaddedSeconds().filter(s -> !(s >= 0 && s <= 30)).ifPresent(s ->
                p.add("omnicall.model.encoder-padded-seconds=" + s + " must be 0..30 (0: the audio's own length)"));
        atLeast(p, "omnicall.worker.max-batch", c.worker().maxBatch(), 1);
        atLeast(p, "omnicall.worker.kv-cache-bytes", c.worker().kvCacheBytes(), 0);
        try {
            TorchThreads.resolve(c.worker().torchThreads(), model.device().trim().startsWith("gpu"), System.getProperties());
        } catch (IllegalArgumentException e) {
            p.add(e.getMessage());
        }
        var transcribe = c.worker().transcribe();
        if (!transcribe.language().trim().equalsIgnoreCase("auto") && !transcribe.language().trim().matches("[a-z]{2,3}")) {
            p.add("omnicall.worker.transcribe.language='" + transcribe.language()
                    + "' must be auto or a Whisper language code such as en");
        }
        atLeast(p, "omnicall.worker.transcribe.max-tokens", transcribe.maxTokens(), 1);
        atLeast(p, "omnicall.worker.transcribe.tokens-per-step", transcribe.tokensPerStep(), 1);
        if (transcribe.beams() < 1 || transcribe.beams() > 32) {
            p.add("omnicall.worker.transcribe.beams=" + transcribe.beams() + " must be 1..32");
        }
        try {
            LengthPenalty.parse(transcribe.lengthPenalty());
        } catch (IllegalArgumentException e) {
            p.add("omnicall.worker.transcribe.length-penalty: " + e.getMessage());
        }
        if (transcribe.maxDelay().isNegative() || transcribe.maxDelay().isZero()) {
            p.add("omnicall.worker.transcribe.max-delay=" + transcribe.maxDelay() + " must be positive");
        }

        omni2(p, c.worker().omni2());
        c.worker().admissionMarginMs().flatMap(AdmissionMargin::problem).ifPresent(p::add);
        c.worker().prefillGapBound().map(String::strip).filter(v -> !v.equalsIgnoreCase("on") && !v.equalsIgnoreCase("off"))
                .ifPresent(v -> p.add("omnicall.worker.prefill-gap-bound='" + v + "' must be on or off"));
        c.worker().prefillGapMarginMs().filter(ms -> ms < 0).ifPresent(ms ->
                p.add("omnicall.worker.prefill-gap-margin-ms=" + ms + " must be >= 0 (unset: prefill-gap-bound decides)"));
        onOrOff(p, "omnicall.worker.fused-prefill", c.worker().fusedPrefill());
        onOrOff(p, "omnicall.worker.kv-pool", c.worker().kvPool());
        c.worker().prefillSliceRows().map(String::strip).filter(v -> !v.equalsIgnoreCase("auto") && !v.matches("\\d+"))
                .ifPresent(v -> p.add("omnicall.worker.prefill-slice-rows='" + v + "' must be auto, 0 (one slice) or a row"
                        + " count"));
        c.worker().kvPoolPositions().ifPresent(n -> atLeast(p, "omnicall.worker.kv-pool-positions", n, 1));
        c.worker().kvPoolMaxSlots().ifPresent(n -> atLeast(p, "omnicall.worker.kv-pool-max-slots", n, 1));
        c.worker().ctcPoolTokens().ifPresent(n -> atLeast(p, "omnicall.worker.ctc-pool-tokens", n, 1));

        var sip = c.sip();
        port(p, "omnicall.sip.port", sip.port(), true);
        if (!lower(sip.transports()).contains("udp") || !TRANSPORTS.containsAll(lower(sip.transports()))) {
            p.add("omnicall.sip.transports=" + sip.transports() + " must be udp or udp,tcp (UDP is always on)");
        }
        atLeast(p, "omnicall.sip.max-calls", sip.maxCalls(), 1);
        if (!(sip.inviteRatePerSource() > 0)) {
            p.add("omnicall.sip.invite-rate-per-source=" + sip.inviteRatePerSource() + " must be > 0");
        }
        for (String cidr : sip.allow()) {
            String why = cidrProblem(cidr);
            if (why != null) {
                p.add("omnicall.sip.allow entry '" + cidr + "' " + why);
            }
        }
        boolean user = sip.auth().username().filter(s -> !s.isBlank()).isPresent();
        boolean pass = sip.auth().password().filter(s -> !s.isBlank()).isPresent();
        if (user && !pass) {
            p.add("omnicall.sip.auth.username is set but omnicall.sip.auth.password is not");
        }
        if (pass && !user) {
            p.add("omnicall.sip.auth.password is set but omnicall.sip.auth.username is not (auth is on when a username is set)");
        }

        var rtp = c.rtp();
        port(p, "omnicall.rtp.port-min", rtp.portMin(), false);
        port(p, "omnicall.rtp.port-max", rtp.portMax(), false);
        if (rtp.portMax() - rtp.portMin() < 1) {
            p.add("omnicall.rtp.port-min=" + rtp.portMin() + " .. port-max=" + rtp.portMax()
                    + " must hold at least one RTP/RTCP pair (port-max > port-min)");
        }

        var vad = c.vad();
        if (!VAD_KINDS.contains(vad.kind().trim().toLowerCase(Locale.ROOT))) {
            p.add("omnicall.vad.kind='" + vad.kind() + "' is not one of silero, energy");
        }
        if (!(vad.threshold() > 0 && vad.threshold() < 1)) {
            p.add("omnicall.vad.threshold=" + vad.threshold() + " must be between 0 and 1 (exclusive)");
        }
        if (vad.endSilenceMs() < 100 || vad.endSilenceMs() > 10_000) {
            p.add("omnicall.vad.end-silence-ms=" + vad.endSilenceMs() + " must be 100..10000");
        }
        int spec = vad.speculativeSilenceMs();
        if (spec != 0 && spec < 32) {
            // at or above end-silence-ms it is switched off with a warning (BridgeRoleService), not refused: lowering
            // end-silence-ms alone must not stop the app
            p.add("omnicall.vad.speculative-silence-ms=" + spec + " must be 0 (off) or at least 32");
        }
        if (vad.adaptiveEndSilence() && (vad.endSilenceMinMs() < 100 || vad.endSilenceMaxMs() > 10_000
                || vad.endSilenceMinMs() > vad.endSilenceMs() || vad.endSilenceMs() > vad.endSilenceMaxMs())) {
            p.add("omnicall.vad.end-silence-min-ms=" + vad.endSilenceMinMs() + ", end-silence-ms=" + vad.endSilenceMs()
                    + ", end-silence-max-ms=" + vad.endSilenceMaxMs() + " must hold 100 <= min <= end-silence-ms <= max"
                    + " <= 10000 (omnicall.vad.adaptive-end-silence=true)");
        }
        if (vad.segmentMs() < 100 || vad.segmentMs() > 200) {
            p.add("omnicall.vad.segment-ms=" + vad.segmentMs() + " must be 100..200");
        }

        atLeast(p, "omnicall.streams.history-turns", c.streams().historyTurns(), 0);
        atLeast(p, "omnicall.streams.commit-interval-ms", c.streams().commitIntervalMs(), 1);
        var bridge = c.bridge();
        if (bridge.count() < 1 || bridge.index() < 0 || bridge.index() >= bridge.count()) {
            p.add("omnicall.bridge.index=" + bridge.index() + " must be in 0..omnicall.bridge.count-1 (count="
                    + bridge.count() + ")");
        }
        if (bridge.count() > kafka.partitions()) {
            p.add("omnicall.bridge.count=" + bridge.count() + " must not exceed omnicall.kafka.partitions="
                    + kafka.partitions() + " (each bridge owns at least one response-audio partition)");
        }
        if (c.worker().drainTimeout().isNegative()) {
            p.add("omnicall.worker.drain-timeout=" + c.worker().drainTimeout() + " must be PT0S (no drain) or positive");
        }
        if (c.streams().stateTtl().isNegative()) {
            p.add("omnicall.streams.state-ttl=" + c.streams().stateTtl() + " must be PT0S (sweep off) or positive");
        }
        Duration grace = c.streams().endedGrace();
        if (grace.isNegative() || grace.compareTo(Duration.ofHours(1)) >= 0) {
            p.add("omnicall.streams.ended-grace=" + grace + " must be PT0S (off) or positive and under PT1H"
                    + " (how long the end of a call is remembered)");
        }
        if (bridge.orphanLookback().isNegative()) {
            p.add("omnicall.bridge.orphan-lookback=" + bridge.orphanLookback() + " must be PT0S (sweep off) or positive");
        }
        var overload = bridge.overload();
        if (overload.refuseLatenessP99Ms() < 1 || overload.resumeLatenessP99Ms() < 0
                || overload.resumeLatenessP99Ms() > overload.refuseLatenessP99Ms()) {
            p.add("omnicall.bridge.overload.refuse-lateness-p99-ms=" + overload.refuseLatenessP99Ms()
                    + ", resume-lateness-p99-ms=" + overload.resumeLatenessP99Ms() + " must hold 0 <= resume <= refuse, refuse >= 1");
        }
        if (overload.refuseCpuPct() < 0 || overload.refuseCpuPct() > 100 || overload.resumeCpuPct() < 0
                || overload.resumeCpuPct() > overload.refuseCpuPct()) {
            p.add("omnicall.bridge.overload.refuse-cpu-pct=" + overload.refuseCpuPct() + ", resume-cpu-pct="
                    + overload.resumeCpuPct() + " must hold 0 <= resume <= refuse <= 100 (refuse 0: CPU not judged)");
        }
        if (overload.refuseReceiveLagMs() < 0 || overload.resumeReceiveLagMs() < 0
                || overload.resumeReceiveLagMs() > overload.refuseReceiveLagMs()) {
            p.add("omnicall.bridge.overload.refuse-receive-lag-ms=" + overload.refuseReceiveLagMs()
                    + ", resume-receive-lag-ms=" + overload.resumeReceiveLagMs()
                    + " must hold 0 <= resume <= refuse (refuse 0: receive lag not judged)");
        }
        if (overload.sampleInterval().toMillis() < 50) {
            p.add("omnicall.bridge.overload.sample-interval=" + overload.sampleInterval() + " must be at least PT0.05S");
        }
        atLeast(p, "omnicall.bridge.overload.resume-after-samples", overload.resumeAfterSamples(), 1);
        atLeast(p, "omnicall.bridge.overload.refuse-after-samples", overload.refuseAfterSamples(), 1);
        atLeast(p, "omnicall.bridge.overload.retry-after-seconds", overload.retryAfterSeconds(), 1);
        atLeast(p, "omnicall.dashboard.max-calls", c.dashboard().maxCalls(), 1);
        return p;
    }

    /** Throws {@link InvalidConfigException} listing every problem, if there is any. */
    public static void validate(OmniCallConfig c) {
        List<String> p = problems(c);
        if (!p.isEmpty()) {
            throw new InvalidConfigException(p);
        }
    }

    private static void onOrOff(List<String> p, String key, java.util.Optional<String> value) {
        value.map(String::strip).filter(v -> !v.equalsIgnoreCase("on") && !v.equalsIgnoreCase("off"))
                .ifPresent(v -> p.add(key + "='" + v + "' must be on or off"));
    }

    private static void atLeast(List<String> p, String key, long value, long min) {
        if (value < min) {
            p.add(key + "=" + value + " must be >= " + min);
        }
    }

    private static void port(List<String> p, String key, int value, boolean zeroMeansAny) {
        int min = zeroMeansAny ? 0 : 1;
        if (value < min || value > 65535) {
            p.add(key + "=" + value + " must be " + min + "..65535" + (zeroMeansAny ? " (0 picks a free port)" : ""));
        }
    }

    private static List<String> lower(List<String> values) {
        return values.stream().map(s -> s.trim().toLowerCase(Locale.ROOT)).toList();
    }

    /**
     * {@code omnicall.worker.omni2.*}: each value as the Omni2 engine parses it (TtsSchedule, TtsSampling), so a value
     * it would refuse when the model loads stops the start instead, naming its key.
     */
    private static void omni2(List<String> p, OmniCallConfig.Worker.Omni2 o) {
        o.ttsFinalCap().filter(cap -> cap < 1).ifPresent(cap ->
                p.add("omnicall.worker.omni2.tts-final-cap=" + cap + " must be >= 1 (units after the reply text ended)"));
        o.streamParams().filter(s -> !s.isBlank()).ifPresent(s -> {
            try {
                TtsSchedule.parseStreamParams(s, 1);
            } catch (IllegalArgumentException e) {
                p.add("omnicall.worker.omni2.stream-params='" + s + "' must be (R,W), two whole numbers >= 1, e.g. (3,10)"
                        + " (config.json's stream_params form)");
            }
        });
        o.ttsSampling().filter(s -> !s.isBlank()).ifPresent(s -> {
            try {
                TtsSampling.parse(s);
            } catch (IllegalArgumentException e) {
                p.add("omnicall.worker.omni2.tts-sampling='" + s + "' must be greedy, sampled:SEED or"
                        + " sampled:SEED:TEMPERATURE (a positive temperature)");
            }
        });
    }

    /** Null when {@code cidr} is a valid IPv4 or IPv6 block, else why not. Never does a DNS lookup. */
    static String cidrProblem(String cidr) {
        String s = cidr.trim();
        int slash = s.indexOf('/');
        if (slash < 0) {
            return "is not a CIDR block (address/prefix, e.g. 10.0.0.0/8)";
        }
        String addr = s.substring(0, slash);
        boolean v6 = addr.contains(":");
        if (!v6 && !isIpv4Literal(addr)) {
            return "has no literal IPv4 or IPv6 address";
        }
        int bits = v6 ? 128 : 32;
        try {
            if (v6) {
                InetAddress.getByName(addr); // a string with ':' is parsed as an IPv6 literal, never resolved
            }
            int prefix = Integer.parseInt(s.substring(slash + 1));
            if (prefix < 0 || prefix > bits) {
                return "has prefix /" + prefix + " outside 0.." + bits;
            }
        } catch (NumberFormatException e) {
            return "has a prefix that is not a number";
        } catch (UnknownHostException e) {
            return "has an IPv6 address that does not parse";
        }
        return null;
    }

    private static boolean isIpv4Literal(String addr) {
        String[] octets = addr.split("\\.", -1);
        if (octets.length != 4) {
            return false;
        }
        for (String o : octets) {
            if (!o.matches("\\d{1,3}") || Integer.parseInt(o) > 255) {
                return false;
            }
        }
        return true;
    }
}
