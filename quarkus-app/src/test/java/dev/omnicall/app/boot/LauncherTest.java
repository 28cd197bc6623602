package dev.omnicall.app.boot;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code bin/omnicall}, the zero-setup run's launcher, and {@code quarkus-app/jvm.options}, the JVM flags it gives the
 * app (C1 only, no hsperfdata: the idle app's first minute, quarkus-app README "Idle app").
 */
class LauncherTest {

    private static final Path ROOT = repoRoot();

    @TempDir
    Path dir;

    @Test
    void shouldHandJavaTheOptionsFileThenJavaOptsAndDashSettingsBeforeTheJarAndTheRestAfterIt() throws Exception {
        // Given a java that writes its working directory and arguments, one a line, and a jar that exists
        Path seen = dir.resolve("seen.txt");
        Path java = script("fake-java", "pwd > '" + seen + "'\nprintf '%s\\n' \"$@\" >> '" + seen + "'\n");
        Path jar = Files.writeString(dir.resolve("app.jar"), "");

        // When the launcher runs in another directory with JAVA_OPTS and mixed arguments
        Process p = launcher(List.of("-Domnicall.roles=bridge", "-Xmx1g", "hello"), java, jar,
                "-XX:TieredStopAtLevel=4 -Dfoo=bar");

        // Then java got the options file first (so JAVA_OPTS and -X/-D arguments win), the jar, then the app's arguments,
        // in the caller's directory (where the app finds demo-model/ and .omnicall/)
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(output(p)).isZero();
        assertThat(Files.readAllLines(seen)).containsExactly(dir.toRealPath().toString(),
                "@" + ROOT.resolve("quarkus-app/jvm.options"), "-XX:TieredStopAtLevel=4", "-Dfoo=bar",
                "-Domnicall.roles=bridge", "-Xmx1g", "-jar", jar.toString(), "hello");
    }

    @Test
    void shouldSayHowToBuildWhenTheJarIsMissing() throws Exception {
        Process p = launcher(List.of(), Path.of("java"), dir.resolve("missing.jar"), "");

        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).isEqualTo(3);
        assertThat(output(p)).contains("missing.jar does not exist", "./mvnw -q -pl quarkus-app -am package -DskipTests");
    }

    @Test
    void shouldStartAJvmWithoutC2AndWithoutPerfDataFromTheOptionsFile() throws Exception {
        // Given this JDK's java and the options file the launcher hands it
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();

        // When java reads it
        Process p = new ProcessBuilder(java, "@" + ROOT.resolve("quarkus-app/jvm.options"), "-XX:+PrintFlagsFinal",
                "-version").redirectErrorStream(true).start();
        String flags = output(p);

        // Then the flags are valid here and in force
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(flags).isZero();
        assertThat(flags).containsPattern("\\bTieredStopAtLevel\\s+= 1\\s.*\\{command line\\}")
                .containsPattern("\\bUsePerfData\\s+= false\\s.*\\{command line\\}");
    }

    private Process launcher(List<String> args, Path java, Path jar, String javaOpts) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(new java.util.ArrayList<>(List.of(ROOT.resolve("bin/omnicall").toString())));
        pb.command().addAll(args);
        pb.environment().put("JAVA", java.toString());
        pb.environment().put("OMNICALL_JAR", jar.toString());
        pb.environment().put("JAVA_OPTS", javaOpts);
        return pb.directory(dir.toFile()).redirectErrorStream(true).start();
    }

    private Path script(String name, String body) throws IOException {
        Path s = dir.resolve(name);
        Files.writeString(s, "#!/usr/bin/env bash\n" + body);
        Files.setPosixFilePermissions(s, PosixFilePermissions.fromString("rwxr-xr-x"));
        return s;
    }

    private static String output(Process p) throws IOException {
        return new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    }

    private static Path repoRoot() {
        Path p = Path.of("").toAbsolutePath();
        while (p != null && !Files.isRegularFile(p.resolve("bin/omnicall"))) {
            p = p.getParent();
        }
        if (p == null) {
            throw new IllegalStateException("no bin/omnicall above " + Path.of("").toAbsolutePath());
        }
        return p;
    }
}
