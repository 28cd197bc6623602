package dev.omnicall.reliability;

import dev.omnicall.bridge.testing.FreePorts;
import dev.omnicall.kafka.testing.TestTls;

import dev.omnicall.reliability.proc.BridgeMain;
import dev.omnicall.reliability.proc.StreamsMain;
import dev.omnicall.reliability.support.ChildJvm;
import dev.omnicall.reliability.support.Figures;
import dev.omnicall.reliability.support.RawSipCall;
import dev.omnicall.reliability.support.Roles;
import dev.omnicall.reliability.support.SaslSslBroker;
import dev.omnicall.reliability.support.SippCaller;
import dev.omnicall.worker.WorkerMain;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Secrets never reach a log, and {@code kafka.*} security settings reach every Kafka client. Each role runs as
 * its own JVM with OmniCall logging at DEBUG and Kafka's configuration dumps at INFO, against the broker's real
 * SASL_SSL listener (SCRAM-SHA-512, a test CA): the SCRAM password in the JAAS config and the truststore
 * password are in use, not merely configured, plus an SSL key password and (bridge) a SIP digest password. The
 * bridge is also sent an unauthenticated INVITE and one with a wrong digest. The captured output must show the
 * configuration was logged and the logins succeeded, and must not hold any secret value.
 */
@Timeout(240)
class SecretsInLogsIT extends ReliabilityTest {

    private static final String JAAS_SECRET = "jaas-secret-R3l1";
    private static final String TRUST_SECRET = "trust-secret-R3l1";
    private static final String KEY_SECRET = "key-secret-R3l1";
    private static final String SIP_SECRET = "sip-secret-R3l1";
    private static final Duration WAIT = Duration.ofSeconds(120);

    /**
     * Kafka client settings carrying secrets, for the SASL_SSL listener: the SCRAM password and the truststore
     * password are used by every connection; the key password is configured only (no client certificate).
     */
    private static List<String> kafkaSecrets(SaslSslBroker broker) {
        List<String> args = new ArrayList<>(broker.clientArgs());
        args.add("kafka.ssl.key.password=" + KEY_SECRET);
        return args;
    }

    @Test
    void shouldNeverLogASecretWhenEveryRoleRunsWithSecretsConfigured() throws Exception {
        // Given the three roles, each in its own JVM, with secrets in their configuration
        SaslSslBroker broker = keep(SaslSslBroker.start(tmp, 2, "svc", JAAS_SECRET,
                TestTls.create(tmp.resolve("tls"), "broker-ks-R3l1", TRUST_SECRET)));
        List<String> worker = new ArrayList<>(kafkaSecrets(broker));
        Roles.workerProperties("unused", "secret-worker", "secret-workers", 8).entrySet().stream()
                .filter(e -> !e.getKey().equals("kafka.bootstrap.servers"))
                .forEach(e -> worker.add(e.getKey() + "=" + e.getValue()));
        List<String> streams = new ArrayList<>(kafkaSecrets(broker));
        streams.addAll(List.of("state-dir=" + tmp.resolve("state"), "application-id=secret-streams"));
        int sipPort = FreePorts.udpAndTcp();
        List<String> bridge = new ArrayList<>(kafkaSecrets(broker));
        bridge.addAll(List.of("sip-port=" + sipPort, "rtp-port-min=" + FreePorts.rtpRange(40), "sip-user=tester",
                "sip-password=" + SIP_SECRET));
        ChildJvm w = keep(ChildJvm.start("secret-worker", WorkerMain.class, List.of(), worker, tmp.resolve("logs")));
        ChildJvm s = keep(ChildJvm.start("secret-streams", StreamsMain.class, List.of(), streams, tmp.resolve("logs")));
        ChildJvm b = keep(ChildJvm.start("secret-bridge", BridgeMain.class, List.of(), bridge, tmp.resolve("logs")));
        w.awaitLine(l -> l.startsWith("WORKER READY"), WAIT);
        s.awaitLine(l -> l.startsWith("READY"), WAIT);
        b.awaitLine(l -> l.startsWith("READY"), WAIT);

        // When the bridge is called without credentials and with a wrong digest
        String invite = "v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
        // (until the final answer, up to 30 s: at load average ~40 the bridge JVM had not answered within 1.5 s)
        List<Integer> challenge = RawSipCall.probeUntilFinal(sipPort, local -> RawSipCall.invite(sipPort, local,
                "application/sdp", invite).getBytes(StandardCharsets.ISO_8859_1), 30_000);
        List<Integer> wrong = RawSipCall.probeUntilFinal(sipPort, local -> RawSipCall.invite(sipPort, local, "application/sdp", invite)
                .replace("Max-Forwards: 70\r\n", "Max-Forwards: 70\r\nAuthorization: Digest username=\"tester\", realm=\"omnicall\","
                        + " nonce=\"00ff\", uri=\"sip:bot@127.0.0.1\", response=\"0123456789abcdef0123456789abcdef\", algorithm=MD5\r\n")
                .getBytes(StandardCharsets.ISO_8859_1), 30_000);
        Thread.sleep(1500);   // a status line of the worker, a METRICS line of streams

        // Then the configuration was logged (the check means something), the SASL_SSL logins succeeded (the
        // worker joined its group and streams is RUNNING through them; no client was refused) and no secret
        // appears anywhere
        assertThat(challenge).contains(401);
        assertThat(wrong).containsAnyOf(401, 403);
        String all = String.join("\n", w.output(), s.output(), b.output());
        assertThat(all).contains("sasl.jaas.config").contains("ssl.truststore.password");
        for (ChildJvm c : List.of(w, s, b)) {
            // the kafka.* keys reached this role's Kafka clients (their config dumps show them)
            assertThat(c.output()).as("%s's Kafka client config", c).contains("security.protocol = SASL_SSL")
                    .contains("sasl.mechanism = SCRAM-SHA-512").contains("sasl.jaas.config = [hidden]")
                    .contains("ssl.truststore.password = [hidden]").doesNotContain("failed authentication");
            for (String secret : List.of(JAAS_SECRET, TRUST_SECRET, KEY_SECRET, SIP_SECRET)) {
                assertThat(c.output()).as("%s's log", c).doesNotContain(secret);
            }
        }
        // the bridge's own Kafka consumer authenticated too: its start-up orphan sweep marked the ends of its
        // call-events partitions and read them through the SASL_SSL listener
        b.awaitLine(l -> l.contains("orphan sweep: ended 0 calls"), WAIT);
        assertThat(b.output()).doesNotContain("orphan sweep failed").doesNotContain("did not read call-events partitions");
        long lines = w.lines().size() + s.lines().size() + b.lines().size();
        Figures.note("log lines checked: worker %d, streams %d, bridge %d; secret-bearing keys logged as: %s",
                w.lines().size(), s.lines().size(), b.lines().size(), all.lines()
                        .filter(l -> l.contains("sasl.jaas.config") || l.contains("ssl.truststore.password")).distinct().limit(4)
                        .map(String::trim).collect(Collectors.joining(" | ")));
        Figures.line("test=secrets-in-logs roles=3 kafka=SASL_SSL/SCRAM-SHA-512 log_lines=%d secrets=4 secrets_found=0"
                + " sip_challenge=%s sip_wrong_digest=%s", lines, challenge, wrong);
    }
}
