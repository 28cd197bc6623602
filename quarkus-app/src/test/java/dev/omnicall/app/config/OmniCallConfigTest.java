package dev.omnicall.app.config;

import dev.omnicall.model.ModelFamily;
import io.smallrye.config.ConfigMappings;
import io.smallrye.config.PropertiesConfigSource;
import io.smallrye.config.SmallRyeConfig;
import io.smallrye.config.SmallRyeConfigBuilder;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The typed mapping of application.properties and its checks, without starting the app. */
class OmniCallConfigTest {

    private static OmniCallConfig load(Map<String, String> props) {
        SmallRyeConfig config = new SmallRyeConfigBuilder()
                .addDefaultInterceptors()
                .withMapping(OmniCallConfig.class)
                .withSources(new PropertiesConfigSource(props, "test", 500))
                .build();
        return config.getConfigMapping(OmniCallConfig.class);
    }

    private static Map<String, String> catalogue() throws IOException {
        Properties p = new Properties();
        try (InputStream in = OmniCallConfigTest.class.getResourceAsStream("/application.properties")) {
            p.load(in);
        }
        Map<String, String> out = new HashMap<>();
        p.stringPropertyNames().stream().filter(k -> !k.startsWith("%")).forEach(k -> out.put(k, p.getProperty(k)));
        return out;
    }

    @Test
    void shouldAcceptTheShippedCatalogueWhenLoadedAsIs() throws IOException {
        // Given the application.properties that ships in the jar
        // When it is mapped and checked
        OmniCallConfig c = load(catalogue());
        // Then it is valid and means what the comments say
        assertThat(ConfigCheck.problems(c)).isEmpty();
        assertThat(c.roles()).containsExactlyInAnyOrder(Role.BRIDGE, Role.WORKER, Role.STREAMS);
        assertThat(c.model().omega()).containsExactly(10, 20, 40, 80);
        assertThat(c.sip().auth().password()).isEmpty();
        assertThat(c.kafka().embedded().port()).isEqualTo(9092);
        assertThat(c.bridge().orphanLookback()).isEqualTo(java.time.Duration.ofHours(4));
    }

    @Test
    void shouldListEveryMappedKeyInTheCatalogueWhenTheDeployManifestsCheckAgainstIt() throws IOException {
        // Given every key the typed mapping knows
        Set<String> mapped = ConfigMappings.getProperties(ConfigMappings.ConfigClass.configClass(OmniCallConfig.class, "omnicall"))
                .keySet().stream().filter(k -> !k.endsWith("[*]")).collect(Collectors.toSet());
        // When compared with the keys of application.properties, commented-out ones included
        String text;
        try (InputStream in = OmniCallConfigTest.class.getResourceAsStream("/application.properties")) {
            text = new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        }
        Set<String> listed = text.lines().map(l -> l.startsWith("#") ? l.substring(1) : l)
                .filter(l -> l.startsWith("omnicall.") && l.contains("="))
                .map(l -> l.substring(0, l.indexOf('=')).trim()).collect(Collectors.toSet());
        // Then the catalogue names them all, and nothing it names is unknown to the mapping
        assertThat(listed).containsExactlyInAnyOrderElementsOf(mapped);
    }

    @Test
    void shouldReportEveryBadValueWithItsKeyWhenSeveralAreWrong() {
        // Given a config with several out-of-range values
        Map<String, String> props = new HashMap<>();
        props.put("omnicall.sip.port", "70000");
        props.put("omnicall.rtp.port-min", "21000");
        props.put("omnicall.rtp.port-max", "20000");
        props.put("omnicall.vad.threshold", "1.5");
        props.put("omnicall.model.device", "cuda");
        props.put("omnicall.model.omega", "10,0");
        props.put("omnicall.model.encoder-padded-seconds", "31");
        props.put("omnicall.sip.allow", "10.0.0.0/8,300.1.1.1/8,example.com/24");
        props.put("omnicall.sip.auth.password", "pw-only");
        props.put("omnicall.serde.kind", "apicurio");
        props.put("omnicall.sip.transports", "tcp");
        props.put("omnicall.bridge.index", "3");
        props.put("omnicall.bridge.count", "3");
        props.put("omnicall.bridge.orphan-lookback", "-PT1H");
        props.put("omnicall.worker.transcribe.language", "English");
        props.put("omnicall.worker.transcribe.max-tokens", "0");
        props.put("omnicall.worker.transcribe.tokens-per-step", "0");
        props.put("omnicall.worker.transcribe.max-delay", "PT0S");
        props.put("omnicall.worker.transcribe.length-penalty", "short");
        props.put("omnicall.worker.torch-threads", "0");
        props.put("omnicall.streams.ended-grace", "PT2H");
        // When it is checked
        // Then one exception lists each problem, naming key and value, and never the password's value
        assertThatThrownBy(() -> ConfigCheck.validate(load(props)))
                .isInstanceOf(ConfigCheck.InvalidConfigException.class)
                .hasMessageContaining("omnicall.sip.port=70000 must be 0..65535")
                .hasMessageContaining("omnicall.rtp.port-min=21000 .. port-max=20000")
                .hasMessageContaining("omnicall.vad.threshold=1.5")
                .hasMessageContaining("omnicall.model.device='cuda' must be cpu or gpu:N")
                .hasMessageContaining("omnicall.model.omega=[10, 0]")
                .hasMessageContaining("omnicall.model.encoder-padded-seconds=31.0 must be 0..30")
                .hasMessageContaining("'300.1.1.1/8' has no literal IPv4")
                .hasMessageContaining("'example.com/24' has no literal IPv4")
                .hasMessageContaining("omnicall.sip.auth.password is set but omnicall.sip.auth.username is not")
                .hasMessageContaining("omnicall.serde.kind=apicurio needs omnicall.serde.registry-url")
                .hasMessageContaining("omnicall.sip.transports=[tcp] must be udp or udp,tcp")
                .hasMessageContaining("omnicall.bridge.index=3 must be in 0..omnicall.bridge.count-1")
                .hasMessageContaining("omnicall.bridge.orphan-lookback=PT-1H must be PT0S (sweep off) or positive")
                .hasMessageContaining("omnicall.worker.transcribe.language='English' must be auto or a Whisper language code")
                .hasMessageContaining("omnicall.worker.transcribe.max-tokens=0")
                .hasMessageContaining("omnicall.worker.transcribe.tokens-per-step=0")
                .hasMessageContaining("omnicall.worker.transcribe.max-delay=PT0S must be positive")
                .hasMessageContaining("omnicall.worker.transcribe.length-penalty: length penalty must be per-token, none or"
                        + " a number such as 0 or -0.5, got 'short'")
                .hasMessageContaining("omnicall.worker.torch-threads must be auto or a thread count >= 1, got '0'")
                .hasMessageContaining("omnicall.streams.ended-grace=PT2H must be PT0S (off) or positive and under PT1H")
                .hasMessageNotContaining("pw-only")
                .satisfies(e -> assertThat(((ConfigCheck.InvalidConfigException) e).problems()).hasSize(20));
    }

    @Test
    void shouldGuardTheBridgeOnPacerLatenessAloneByDefaultAndNameBadOverloadKeys() throws IOException {
        // Given the shipped catalogue
        OmniCallConfig c = load(catalogue());
        // Then the overload guard is on, judged on the RTP pacer's lateness only (the process also runs the worker)
        assertThat(dev.omnicall.app.roles.BridgeRoleService.overloadConfig(c.bridge().overload()))
                .isEqualTo(dev.omnicall.bridge.OverloadConfig.latenessOnly(20, 10))
                .satisfies(o -> assertThat(o.judgesCpu()).isFalse())
                .satisfies(o -> assertThat(o.refuseAfterSamples()).isEqualTo(3));
        // and the number of late samples in a row before refusing is the app's key
        Map<String, String> patient = catalogue();
        patient.put("omnicall.bridge.overload.refuse-after-samples", "5");
        assertThat(dev.omnicall.app.roles.BridgeRoleService.overloadConfig(load(patient).bridge().overload())
                .refuseAfterSamples()).isEqualTo(5);
        // and the receive-lag thresholds are the app's keys (default 60 / 20 ms, the library's)
        assertThat(BridgeRoleServiceRef.lag(c)).containsExactly(60, 20);
        Map<String, String> lagging = catalogue();
        lagging.put("omnicall.bridge.overload.refuse-receive-lag-ms", "90");
        lagging.put("omnicall.bridge.overload.resume-receive-lag-ms", "30");
        assertThat(BridgeRoleServiceRef.lag(load(lagging))).containsExactly(90, 30);
        // and switched off it is the library's OFF
        Map<String, String> off = catalogue();
        off.put("omnicall.bridge.overload.enabled", "false");
        assertThat(dev.omnicall.app.roles.BridgeRoleService.overloadConfig(load(off).bridge().overload()).enabled()).isFalse();
        // Given thresholds that cannot work, each is named with its value
        Map<String, String> bad = catalogue();
        bad.put("omnicall.bridge.overload.refuse-lateness-p99-ms", "5");
        bad.put("omnicall.bridge.overload.resume-lateness-p99-ms", "8");
        bad.put("omnicall.bridge.overload.refuse-cpu-pct", "120");
        bad.put("omnicall.bridge.overload.sample-interval", "PT0.01S");
        bad.put("omnicall.bridge.overload.retry-after-seconds", "0");
        bad.put("omnicall.bridge.overload.refuse-after-samples", "0");
        bad.put("omnicall.bridge.overload.refuse-receive-lag-ms", "10");
        bad.put("omnicall.bridge.overload.resume-receive-lag-ms", "20");
        assertThatThrownBy(() -> ConfigCheck.validate(load(bad)))
                .hasMessageContaining("omnicall.bridge.overload.refuse-lateness-p99-ms=5, resume-lateness-p99-ms=8")
                .hasMessageContaining("omnicall.bridge.overload.refuse-cpu-pct=120")
                .hasMessageContaining("omnicall.bridge.overload.sample-interval=PT0.01S")
                .hasMessageContaining("omnicall.bridge.overload.retry-after-seconds")
                .hasMessageContaining("omnicall.bridge.overload.refuse-after-samples")
                .hasMessageContaining("omnicall.bridge.overload.refuse-receive-lag-ms=10, resume-receive-lag-ms=20")
                .satisfies(e -> assertThat(((ConfigCheck.InvalidConfigException) e).problems()).hasSize(6));
    }

    @Test
    void shouldRefuseAdaptiveEndSilenceBoundsThatDoNotHoldTheEndSilence() {
        // Given the adaptive end-of-turn wait on, with a shortest wait above end-silence-ms
        Map<String, String> props = new HashMap<>(Map.of("omnicall.vad.adaptive-end-silence", "true",
                "omnicall.vad.end-silence-ms", "500", "omnicall.vad.end-silence-min-ms", "600"));
        // Then the check names the three keys and their values
        assertThatThrownBy(() -> ConfigCheck.validate(load(props)))
                .hasMessageContaining("omnicall.vad.end-silence-min-ms=600, end-silence-ms=500, end-silence-max-ms=1000"
                        + " must hold 100 <= min <= end-silence-ms <= max <= 10000");
        props.put("omnicall.vad.end-silence-min-ms", "400");
        props.put("omnicall.vad.end-silence-max-ms", "20000");
        assertThatThrownBy(() -> ConfigCheck.validate(load(props))).hasMessageContaining("end-silence-max-ms=20000");
        // the same bounds with the adaptive wait off are not read, and pass
        props.put("omnicall.vad.adaptive-end-silence", "false");
        ConfigCheck.validate(load(props));
    }

    @Test
    void shouldStopTheStartWithOneProblemNamingTheOmni2KeyWhenItsValueDoesNotParse() {
        // Given values of the Omni2 schedule and TTS sampling keys that the engine would refuse when the model loads
        Map<String, List<String>> bad = Map.of(
                "omnicall.worker.omni2.stream-params", List.of("(3)", "(3,10,2)", "(0,10)", "(3,-1)", "(three,10)"),
                "omnicall.worker.omni2.tts-sampling", List.of("sampled", "sampled:x", "sampled:7:0", "top-k:5", "Greedy"),
                "omnicall.worker.omni2.tts-final-cap", List.of("0"));
        bad.forEach((key, values) -> values.forEach(value -> {
            // When the configuration is checked at start-up
            List<String> problems = ConfigCheck.problems(load(Map.of(key, value)));
            // Then it is one problem that names the key and the value
            assertThat(problems).as("%s=%s", key, value).singleElement().asString().contains(key + "=").contains(value);
            assertThatThrownBy(() -> ConfigCheck.validate(load(Map.of(key, value))))
                    .isInstanceOf(ConfigCheck.InvalidConfigException.class).hasMessageContaining(key);
        }));
        // And the forms the engine reads pass
        for (String ok : List.of("(3,10)", " (2,5) ", "(1,1)")) {
            assertThat(ConfigCheck.problems(load(Map.of("omnicall.worker.omni2.stream-params", ok)))).as(ok).isEmpty();
        }
        for (String ok : List.of("greedy", "sampled:7", "sampled:7:0.8", " sampled:-3:1.5 ")) {
            assertThat(ConfigCheck.problems(load(Map.of("omnicall.worker.omni2.tts-sampling", ok)))).as(ok).isEmpty();
        }
    }

    @Test
    void shouldRefuseAnUnmappedWorkerKeyButTakeTheOmni2OnesWhenTheyComeAsSystemProperties() {
        // Given the Omni2 engine's settings passed as -D system properties, as gpu-workers documents them
        Map<String, String> engineKeys = Map.of("omnicall.worker.omni2.stream-params", "(2,5)",
                "omnicall.worker.omni2.tts-sampling", "sampled:7", "omnicall.worker.omni2.tts-final-cap", "40");
        engineKeys.forEach(System::setProperty);
        System.setProperty("omnicall.worker.omni2.no-such-key", "1");
        try {
            // When the mapping is built from the default sources (system properties among them)
            // Then a key under the prefix that the mapping does not declare stops it, naming the key
            assertThatThrownBy(() -> new SmallRyeConfigBuilder().addDefaultInterceptors().addDefaultSources()
                    .withMapping(OmniCallConfig.class).build()).hasMessageContaining("omnicall.worker.omni2.no-such-key");
            // and the engine's own keys are declared: they map, and reach the checks
            System.clearProperty("omnicall.worker.omni2.no-such-key");
            OmniCallConfig c = new SmallRyeConfigBuilder().addDefaultInterceptors().addDefaultSources()
                    .withMapping(OmniCallConfig.class).build().getConfigMapping(OmniCallConfig.class);
            assertThat(c.worker().omni2().streamParams()).contains("(2,5)");
            assertThat(c.worker().omni2().ttsSampling()).contains("sampled:7");
            assertThat(c.worker().omni2().ttsFinalCap()).contains(40);
            assertThat(ConfigCheck.problems(c)).isEmpty();
        } finally {
            engineKeys.keySet().forEach(System::clearProperty);
            System.clearProperty("omnicall.worker.omni2.no-such-key");
        }
    }

    @Test
    void shouldTakeTheModelFamilyByItsPublishedNameAndListTheTwoWhenItIsMisspelt() {
        // Given the family unset, and each of the two names
        // When mapped
        // Then unset leaves the choice to the checkpoint, and each name maps to its family
        assertThat(load(Map.of()).model().family()).isEmpty();
        assertThat(load(Map.of("omnicall.model.family", "llama-omni")).model().family()).contains(ModelFamily.LLAMA_OMNI);
        assertThat(load(Map.of("omnicall.model.family", "llama-omni2")).model().family()).contains(ModelFamily.LLAMA_OMNI2);
        // And a name that is neither stops the start, naming the key, the value and the two accepted names
        assertThatThrownBy(() -> load(Map.of("omnicall.model.family", "omni2"))).hasMessageContaining("omnicall.model.family")
                .hasMessageContaining("omni2").hasMessageContaining("llama-omni2");
    }

    @Test
    void shouldNameTheKeyWhenAValueIsNotANumber() {
        // Given a port that is not a number
        Map<String, String> props = Map.of("omnicall.sip.port", "five-oh-six-oh");
        // When the mapping is built
        // Then SmallRye Config refuses it, naming the key
        assertThatThrownBy(() -> load(props)).hasMessageContaining("omnicall.sip.port").hasMessageContaining("five-oh-six-oh");
    }

    @Test
    void shouldListTheAllowedRolesWhenARoleIsMisspelt() {
        // Given a role that does not exist
        Map<String, String> props = Map.of("omnicall.roles", "bridge,wroker");
        // When the mapping is built
        // Then the error names the key, the bad value and the allowed ones
        assertThatThrownBy(() -> load(props)).hasMessageContaining("omnicall.roles").hasMessageContaining("wroker")
                .hasMessageContaining("worker");
    }

    @Test
    void shouldAcceptIpv6AndIpv4BlocksWhenTheyAreWellFormed() {
        assertThat(ConfigCheck.cidrProblem("192.168.0.0/16")).isNull();
        assertThat(ConfigCheck.cidrProblem("::/0")).isNull();
        assertThat(ConfigCheck.cidrProblem("fd00::/8")).isNull();
        assertThat(ConfigCheck.cidrProblem("10.0.0.0/33")).contains("outside 0..32");
        assertThat(ConfigCheck.cidrProblem("10.0.0.1")).contains("not a CIDR block");
    }

    @Test
    void shouldMapKafkaEnvironmentNamesToDottedKeysWhenPassingThemThrough() {
        assertThat(KafkaProperties.dotted("KAFKA_SASL_JAAS_CONFIG")).isEqualTo("kafka.sasl.jaas.config");
        assertThat(KafkaProperties.dotted("kafka.security.protocol")).isEqualTo("kafka.security.protocol");
        assertThat(KafkaProperties.dotted("OMNICALL_SIP_PORT")).isNull();
    }

    /** The mapped receive-lag thresholds: refuse, resume (ms). */
    private static final class BridgeRoleServiceRef {
        static int[] lag(OmniCallConfig c) {
            var o = dev.omnicall.app.roles.BridgeRoleService.overloadConfig(c.bridge().overload());
            return new int[] {o.refuseReceiveLagMs(), o.resumeReceiveLagMs()};
        }
    }
}
