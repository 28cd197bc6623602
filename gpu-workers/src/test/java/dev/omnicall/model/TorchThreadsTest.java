package dev.omnicall.model;

import dev.omnicall.model.omni.TinyCheckpointWriter;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assumptions.assumeThat;

/**
 * {@code omnicall.worker.torch-threads}: how the setting resolves, and, each in a fresh JVM without the thread
 * properties this module's surefire sets (DJL's engine starts once per process), what torch then reports.
 */
class TorchThreadsTest {

    private static final Pattern THREADS = Pattern.compile("THREADS intra=(\\d+) inter=(\\d+)");

    private static Properties jvm(String... keyValues) {
        Properties p = new Properties();
        for (int i = 0; i < keyValues.length; i += 2) {
            p.setProperty(keyValues[i], keyValues[i + 1]);
        }
        return p;
    }

    @Test
    void shouldRunOneIntraAndOneInterOpThreadOnCpuWhenNothingIsSet() {
        TorchThreads.Plan plan = TorchThreads.resolve(null, false, jvm());
        assertThat(plan.intraOp()).isEqualTo(1);
        assertThat(plan.interOp()).isEqualTo(1);
        assertThat(TorchThreads.resolve(" AUTO ", false, jvm())).isEqualTo(plan);
    }

    @Test
    void shouldLeaveDjlsDefaultOnAGpuWhenNothingIsSet() {
        TorchThreads.Plan plan = TorchThreads.resolve("auto", true, jvm());
        assertThat(plan.intraOp()).isEqualTo(TorchThreads.DJL_DEFAULT);
        assertThat(plan.interOp()).isEqualTo(TorchThreads.DJL_DEFAULT);
    }

    @Test
    void shouldTakeAnExplicitCountOnEitherDeviceWithOneInterOpThread() {
        for (boolean gpu : new boolean[] {false, true}) {
            TorchThreads.Plan plan = TorchThreads.resolve("3", gpu, jvm());
            assertThat(plan.intraOp()).isEqualTo(3);
            assertThat(plan.interOp()).isEqualTo(1);
            assertThat(plan.source()).isEqualTo("omnicall.worker.torch-threads=3");
        }
    }

    @Test
    void shouldLetTheJvmsDjlPropertiesWinOverTheSetting() {
        TorchThreads.Plan intra = TorchThreads.resolve("3", false, jvm(TorchThreads.DJL_INTRA, "2"));
        assertThat(intra.intraOp()).isEqualTo(2);
        assertThat(intra.interOp()).isEqualTo(1);
        assertThat(intra.source()).contains("overridden by the JVM's -Dai.djl.pytorch.num_threads=2");
        TorchThreads.Plan both = TorchThreads.resolve("auto", true,
                jvm(TorchThreads.DJL_INTRA, "4", TorchThreads.DJL_INTEROP, "2"));
        assertThat(both.intraOp()).isEqualTo(4);
        assertThat(both.interOp()).isEqualTo(2);
    }

    @Test
    void shouldNameTheKeyWhenAValueIsNotACount() {
        for (String bad : List.of("0", "-1", "two", "1.5")) {
            assertThatThrownBy(() -> TorchThreads.resolve(bad, false, jvm()))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("omnicall.worker.torch-threads must be auto or a thread count >= 1, got '" + bad + "'");
        }
        // DJL itself would ignore a malformed property silently and run its default
        assertThatThrownBy(() -> TorchThreads.resolve("auto", false, jvm(TorchThreads.DJL_INTRA, "one")))
                .hasMessage("-Dai.djl.pytorch.num_threads must be a thread count >= 1, got 'one'");
    }

    /** What a fresh JVM's torch reports, and its output for the start-up line. */
    private record Child(int intra, int inter, String output) {
    }

    private static Child probe(List<String> jvmFlags, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(Paths.get(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx1g", "-Dai.djl.offline=true",
                "-DENGINE_CACHE_DIR=" + Paths.get("target", "djl-cache").toAbsolutePath()));
        cmd.addAll(jvmFlags);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), TorchThreadsProbe.class.getName()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        // surefire gives this JVM OMP_NUM_THREADS=1; the child must start from torch's own default
        pb.environment().remove("OMP_NUM_THREADS");
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).as("probe ended").isTrue();
        assertThat(p.exitValue()).as("probe exit status; output:\n" + out).isZero();
        Matcher m = THREADS.matcher(out);
        assertThat(m.find()).as("THREADS line in:\n" + out).isTrue();
        return new Child(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)), out);
    }

    @Test
    void shouldRunTorchOnOneThreadInAFreshCpuJvmWhereDjlAloneWouldRunMore() throws Exception {
        // Given DJL's own default in a fresh JVM (the control: on one core it is 1 too, and nothing here could fail)
        Child djl = probe(List.of(), "djl");
        assumeThat(djl.intra()).as("DJL's default intra-op threads on this machine").isGreaterThan(1);
        // When the worker starts the engine through the setting, or only loads a model
        Child auto = probe(List.of(), "setting", "auto");
        Path tiny = TinyCheckpointWriter.writeIfAbsent(Paths.get("target", "tiny-checkpoint-" + TinyModels.SEED)
                .toAbsolutePath(), TinyModels.SEED);
        Child model = probe(List.of(), "model", tiny.toString());
        // Then torch runs one intra-op and one inter-op thread, and the start-up line says so
        assertThat(auto.intra()).isEqualTo(1);
        assertThat(auto.inter()).isEqualTo(1);
        assertThat(auto.output()).contains("torch threads: 1 intra-op, 1 inter-op (omnicall.worker.torch-threads=auto on CPU)");
        assertThat(model.intra()).isEqualTo(1);
        assertThat(model.inter()).isEqualTo(1);
    }

    @Test
    void shouldRunTheExplicitCountAndLetTheJvmPropertyWinInAFreshJvm() throws Exception {
        // Given an explicit count other than 1 and DJL's default
        Child three = probe(List.of(), "setting", "3");
        // And the same with the JVM's own DJL property
        Child property = probe(List.of("-Dai.djl.pytorch.num_threads=2"), "setting", "3");
        // Then torch runs what each asked for
        assertThat(three.intra()).isEqualTo(3);
        assertThat(three.inter()).isEqualTo(1);
        assertThat(property.intra()).isEqualTo(2);
        assertThat(property.output()).contains("torch threads: 2 intra-op, 1 inter-op");
    }

    @Test
    void shouldCorrectTheIntraOpCountWhenTheEngineWasStartedBeforeTheSetting() throws Exception {
        // Given a JVM whose engine something else started first, with DJL's default
        Child late = probe(List.of(), "late");
        // Then the intra-op count is set on the running engine, and the line warns about it
        assertThat(late.intra()).isEqualTo(1);
        assertThat(late.output()).contains("was started before the worker's thread setting");
    }
}
