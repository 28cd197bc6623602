package dev.omnicall.kafka.testing;

import dev.omnicall.kafka.EmbeddedKafka;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * TLS material for a broker on 127.0.0.1, made with the JDK's {@code keytool} in a directory of the caller's:
 * a self-signed CA (as Strimzi's cluster CA), a broker key and certificate signed by it for
 * {@code 127.0.0.1} and {@code localhost} (subject alternative names, so clients' https endpoint check passes)
 * in a PKCS12 keystore, and a PKCS12 truststore holding only the CA certificate (what clients are given).
 *
 * @param keystore           the broker's PKCS12 keystore (key, its certificate, the CA)
 * @param keystorePassword   its password, also the key's
 * @param truststore         the clients' PKCS12 truststore (the CA certificate)
 * @param truststorePassword its password
 * @param millis             how long the keytool runs took
 */
public record TestTls(Path keystore, String keystorePassword, Path truststore, String truststorePassword, long millis) {

    /** Makes the CA, the broker certificate and both stores in {@code dir} with fresh random passwords. */
    public static TestTls create(Path dir) {
        return create(dir, "ks-" + token(), "ts-" + token());
    }

    public static TestTls create(Path dir, String keystorePassword, String truststorePassword) {
        long t0 = System.nanoTime();
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        String caPassword = "ca-" + token();
        Path ca = dir.resolve("ca.p12");
        Path caPem = dir.resolve("ca.pem");
        Path keystore = dir.resolve("broker.p12");
        Path csr = dir.resolve("broker.csr");
        Path brokerPem = dir.resolve("broker.pem");
        Path truststore = dir.resolve("truststore.p12");
        // keytool starts a JVM per call: the independent ones run side by side, four rounds in all
        run(dir,
                keytool("-genkeypair", "-alias", "ca", "-keyalg", "EC", "-groupname", "secp256r1",
                        "-dname", "CN=OmniCall test CA", "-ext", "bc:c", "-validity", "2",
                        "-keystore", ca.toString(), "-storetype", "PKCS12", "-storepass", caPassword),
                keytool("-genkeypair", "-alias", "broker", "-keyalg", "EC", "-groupname", "secp256r1",
                        "-dname", "CN=localhost", "-validity", "2",
                        "-keystore", keystore.toString(), "-storetype", "PKCS12", "-storepass", keystorePassword));
        run(dir,
                keytool("-certreq", "-alias", "broker", "-keystore", keystore.toString(), "-storepass", keystorePassword,
                        "-file", csr.toString()),
                keytool("-exportcert", "-rfc", "-alias", "ca", "-keystore", ca.toString(), "-storepass", caPassword,
                        "-file", caPem.toString()));
        run(dir,
                keytool("-gencert", "-rfc", "-alias", "ca", "-keystore", ca.toString(), "-storepass", caPassword,
                        "-infile", csr.toString(), "-outfile", brokerPem.toString(), "-validity", "2",
                        "-ext", "SAN=ip:127.0.0.1,dns:localhost", "-ext", "EKU=serverAuth"),
                keytool("-importcert", "-noprompt", "-alias", "ca", "-file", caPem.toString(),
                        "-keystore", keystore.toString(), "-storepass", keystorePassword),
                keytool("-importcert", "-noprompt", "-alias", "omnicall-ca", "-file", caPem.toString(),
                        "-keystore", truststore.toString(), "-storetype", "PKCS12", "-storepass", truststorePassword));
        // the CA's reply replaces the broker's self-signed certificate with the signed chain
        run(dir, keytool("-importcert", "-alias", "broker", "-file", brokerPem.toString(),
                "-keystore", keystore.toString(), "-storepass", keystorePassword));
        return new TestTls(keystore, keystorePassword, truststore, truststorePassword, (System.nanoTime() - t0) / 1_000_000);
    }

    /** The broker side: a SASL_SSL listener on a free port with these SCRAM-SHA-512 users (name to password). */
    public EmbeddedKafka.SaslSslListener listener(Map<String, String> users) {
        return new EmbeddedKafka.SaslSslListener(0, keystore, keystorePassword, users);
    }

    /**
     * The client side, as an operator writes it: the documented {@code kafka.*} keys (security protocol,
     * SCRAM-SHA-512, JAAS login, truststore), bootstrap servers included.
     */
    public Map<String, String> clientProperties(String bootstrapServers, String user, String password) {
        Map<String, String> p = new LinkedHashMap<>();
        p.put("kafka.bootstrap.servers", bootstrapServers);
        p.put("kafka.security.protocol", "SASL_SSL");
        p.put("kafka.sasl.mechanism", EmbeddedKafka.SaslSslListener.MECHANISM);
        p.put("kafka.sasl.jaas.config", "org.apache.kafka.common.security.scram.ScramLoginModule required username=\""
                + user + "\" password=\"" + password + "\";");
        p.put("kafka.ssl.truststore.location", truststore.toString());
        p.put("kafka.ssl.truststore.type", "PKCS12");
        p.put("kafka.ssl.truststore.password", truststorePassword);
        return p;
    }

    /** No password in it. */
    @Override
    public String toString() {
        return "TestTls[keystore=" + keystore + ", truststore=" + truststore + ", " + millis + " ms]";
    }

    private static String token() {
        return UUID.randomUUID().toString().replace("-", "").substring(0, 16);
    }

    private static List<String> keytool(String... args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(keytoolBinary().toString());
        cmd.addAll(List.of(args));
        return cmd;
    }

    private static Path keytoolBinary() {
        String javaHome = System.getenv("JAVA_HOME");
        if (javaHome != null && !javaHome.isBlank() && Files.isExecutable(Paths.get(javaHome, "bin", "keytool"))) {
            return Paths.get(javaHome, "bin", "keytool");
        }
        // the JDK running the tests has one too (JAVA_HOME is often unset on developer machines)
        return Paths.get(System.getProperty("java.home"), "bin", "keytool");
    }

    /** Runs the commands at once and waits for all; a failure says which call and what keytool printed. */
    @SafeVarargs
    private static void run(Path dir, List<String>... commands) {
        List<Process> started = new ArrayList<>();
        try {
            for (List<String> cmd : commands) {
                started.add(new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start());
            }
            for (int i = 0; i < started.size(); i++) {
                Process p = started.get(i);
                String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
                int rc = p.waitFor();
                if (rc != 0) {
                    throw new IllegalStateException("keytool " + commands[i].get(1) + " failed (" + rc + "): " + out);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run keytool (" + keytoolBinary() + "): " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while keytool ran", e);
        } finally {
            started.forEach(Process::destroyForcibly);
        }
    }
}
