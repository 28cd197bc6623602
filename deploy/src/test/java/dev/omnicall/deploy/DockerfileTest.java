package dev.omnicall.deploy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Lints the image recipes. There is no Docker engine here, so nothing is built: the tests read the
 * Dockerfiles and check that the runtime image is the Quarkus fast-jar and nothing else, and that no
 * model is ever baked in.
 */
class DockerfileTest {

    private static final String FAST_JAR = "/src/quarkus-app/target/quarkus-app/";
    /** quarkus-app/jvm.options in the build stage (JvmFlagsTest checks where it goes and how java finds it). */
    private static final String JVM_OPTIONS = "/src/quarkus-app/jvm.options";
    private static final Pattern MODEL_LIKE = Pattern.compile(
            "(?i)(models?/|checkpoint|safetensors|\\.gguf|\\.pt\\b|\\.pth\\b|\\.ckpt|\\.bin\\b|\\.omnicall|tiny-model|llama)");

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "gpu"})
    void shouldShipOnlyTheQuarkusFastJarLayoutBuiltFromTheRepository(String flavour) {
        Dockerfile dockerfile = Dockerfile.read(Locations.DOCKER.resolve("Dockerfile." + flavour));
        Dockerfile.Stage build = dockerfile.stage("build");
        Dockerfile.Stage image = dockerfile.last();

        // The build stage packages quarkus-app and what it depends on, with the Maven wrapper
        assertThat(build.all("RUN")).anySatisfy(run ->
                assertThat(run.arguments()).contains("./mvnw").contains("-pl quarkus-app -am package"));

        // The image copies the four fast-jar parts and the app's JVM flags from the build stage, and nothing else
        List<String> copies = image.all("COPY").stream().map(Dockerfile.Instruction::arguments).toList();
        assertThat(image.all("ADD")).isEmpty();
        assertThat(copies).allSatisfy(c -> assertThat(c).startsWith("--from=build"));
        assertThat(copies.stream().map(DockerfileTest::source))
                .containsExactlyInAnyOrder(FAST_JAR + "lib/", FAST_JAR + "*.jar", FAST_JAR + "app/", FAST_JAR + "quarkus/",
                        JVM_OPTIONS);
        assertThat(image.all("ENTRYPOINT")).singleElement().extracting(Dockerfile.Instruction::arguments)
                .isEqualTo("[\"java\", \"-jar\", \"/deployments/quarkus-run.jar\"]");
        // Runs as the same non-root user the pods demand (runAsUser 10001)
        assertThat(image.all("USER")).singleElement().extracting(Dockerfile.Instruction::arguments).isEqualTo("10001");
    }

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "gpu"})
    void shouldNeverBakeAModelIntoTheImage(String flavour) throws IOException {
        Dockerfile dockerfile = Dockerfile.read(Locations.DOCKER.resolve("Dockerfile." + flavour));
        assertThat(modelBakingSteps(dockerfile)).isEmpty();
        // The build stage copies the whole context, so the context must exclude checkpoints and local state
        List<String> ignored = Files.readAllLines(Locations.DOCKER.resolve("Dockerfile." + flavour + ".dockerignore"));
        assertThat(ignored).contains("**/.omnicall", "models", "**/*.safetensors", "**/target");
    }

    @Test
    void shouldFlagModelBakingWhenADockerfileCopiesOrDownloadsWeights(@TempDir Path dir) throws IOException {
        // Given a Dockerfile that copies the zero-setup checkpoint and downloads shards
        Path file = dir.resolve("Dockerfile");
        Files.writeString(file, """
                FROM eclipse-temurin:17-jre-jammy
                COPY .omnicall/tiny-model /models/tiny
                RUN curl -LO https://huggingface.co/x/resolve/main/model-00001-of-00004.safetensors \\
                    && echo done
                COPY --from=build /src/quarkus-app/target/quarkus-app/lib/ /deployments/lib/
                """);

        // When / Then both steps are reported, the fast-jar copy is not
        assertThat(modelBakingSteps(Dockerfile.read(file))).hasSize(2)
                .anySatisfy(step -> assertThat(step).startsWith("COPY .omnicall/tiny-model"))
                .anySatisfy(step -> assertThat(step).startsWith("RUN curl").contains("&& echo done"));
    }

    /** Every COPY/ADD of something that looks like weights, and every RUN that fetches them. */
    static List<String> modelBakingSteps(Dockerfile dockerfile) {
        List<String> steps = new java.util.ArrayList<>();
        for (Dockerfile.Stage stage : dockerfile.stages()) {
            for (Dockerfile.Instruction step : stage.instructions()) {
                boolean copiesWeights = (step.keyword().equals("COPY") || step.keyword().equals("ADD"))
                        && MODEL_LIKE.matcher(source(step.arguments())).find();
                boolean fetchesWeights = step.keyword().equals("RUN")
                        && Pattern.compile("(?i)(huggingface|hf_hub|\\.safetensors|\\.gguf)").matcher(step.arguments()).find();
                if (copiesWeights || fetchesWeights) {
                    steps.add(step.keyword() + " " + step.arguments());
                }
            }
        }
        return steps;
    }

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "gpu"})
    void shouldPickTheLibtorchFlavourAndRuntimeBaseTogether(String flavour) {
        Dockerfile dockerfile = Dockerfile.read(Locations.DOCKER.resolve("Dockerfile." + flavour));
        String mavenRun = dockerfile.stage("build").all("RUN").stream().map(Dockerfile.Instruction::arguments)
                .filter(r -> r.contains("./mvnw")).findFirst().orElseThrow();
        if (flavour.equals("gpu")) {
            // CUDA 12.4 libtorch (pytorch-native-cu124 2.5.1) on a CUDA 12.4 runtime
            assertThat(mavenRun).contains("-Pcuda").contains("-Dcuda");
            assertThat(dockerfile.last().base()).startsWith("nvidia/cuda:12.4").contains("runtime");
        } else {
            assertThat(mavenRun).doesNotContain("cuda");
            assertThat(dockerfile.last().base()).doesNotContain("cuda");
        }
    }

    private static String source(String copyArguments) {
        String[] parts = copyArguments.split(" ");
        // COPY [--flags] <src>... <dest>: here always one source
        List<String> operands = java.util.Arrays.stream(parts).filter(p -> !p.startsWith("--")).toList();
        return operands.get(0);
    }

}
