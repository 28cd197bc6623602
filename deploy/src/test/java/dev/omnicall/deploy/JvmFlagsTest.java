package dev.omnicall.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import io.fabric8.kubernetes.api.model.EnvVar;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The deployed roles start with the app's JVM flags, quarkus-app/jvm.options (the file bin/omnicall uses), never a
 * copied flag list: the image holds the file and names it in JDK_JAVA_OPTIONS; a role that needs other flags puts
 * them after the file. The bridge keeps C2 (deploy README, "JVM flags": MediaLoadBenchmark measured C1-only code at
 * 7-15 % more CPU per call); streams and worker run the file as it is.
 */
class JvmFlagsTest {

    static final String IMAGE_JVM_OPTIONS = "/deployments/jvm.options";
    static final String FROM_THE_FILE = "@" + IMAGE_JVM_OPTIONS;
    /** What each role adds after the file; a role not listed adds nothing and leaves the image's variable alone. */
    static final Map<String, String> ROLE_FLAGS = Map.of("bridge", "-XX:TieredStopAtLevel=4");

    private static final Pattern ENV_VALUE = Pattern.compile("(?:^|\\s)JDK_JAVA_OPTIONS=(?:\"([^\"]*)\"|(\\S+))");

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "gpu"})
    void shouldCopyTheAppsJvmOptionsIntoTheImageAndHandItToTheJavaLauncher(String flavour) {
        Dockerfile.Stage image = Dockerfile.read(Locations.DOCKER.resolve("Dockerfile." + flavour)).last();

        // The file comes from the repository's quarkus-app/, as the build stage copied it
        assertThat(image.all("COPY")).map(Dockerfile.Instruction::arguments)
                .contains("--from=build --chown=10001:10001 /src/quarkus-app/jvm.options " + IMAGE_JVM_OPTIONS);
        // and the launcher reads it before the ENTRYPOINT's own arguments (java -jar ...)
        assertThat(image.all("ENV")).map(env -> imageJdkJavaOptions(env.arguments()))
                .filteredOn(Optional::isPresent).singleElement().isEqualTo(Optional.of(FROM_THE_FILE));
    }

    @Test
    void shouldReadJdkJavaOptionsOutOfAnEnvInstructionQuotedOrNot() {
        assertThat(imageJdkJavaOptions("LANG=C.UTF-8 JDK_JAVA_OPTIONS=\"@/x/jvm.options -Xss1m\" JAVA_TOOL_OPTIONS=\"-Xmx1g\""))
                .contains("@/x/jvm.options -Xss1m");
        assertThat(imageJdkJavaOptions("JDK_JAVA_OPTIONS=@/x/jvm.options LANG=C.UTF-8")).contains("@/x/jvm.options");
        assertThat(imageJdkJavaOptions("JAVA_TOOL_OPTIONS=\"-Xmx1g\" MY_JDK_JAVA_OPTIONS=x")).isEmpty();
    }

    @Test
    void shouldKeepTheFileWhoseFlagTheBridgeTurnsBack() throws IOException {
        // The bridge's override only means something while the file stops at C1
        assertThat(Files.readAllLines(Locations.REPOSITORY.resolve("quarkus-app/jvm.options")))
                .contains("-XX:TieredStopAtLevel=1");
    }

    static List<Rendered> renderings() {
        return Rendered.all();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("renderings")
    void shouldStartEveryKubernetesRoleWithTheFileAndOnlyItsOwnFlagsAfterIt(Rendered rendered) {
        rendered.podTemplates().forEach((workload, template) -> {
            String role = workload.substring("omnicall-".length());
            Optional<String> value = Pods.env(Pods.app(template), "JDK_JAVA_OPTIONS").map(EnvVar::getValue);
            assertThat(value).as(workload).isEqualTo(expectedOverride(role));
        });
    }

    @Test
    void shouldStartEveryComposeRoleWithTheFileAndOnlyItsOwnFlagsAfterIt() {
        ComposeFileTest.appServices().forEach((name, service) -> {
            String role = service.path("environment").path("OMNICALL_ROLES").asText();
            JsonNode value = service.path("environment").path("JDK_JAVA_OPTIONS");
            assertThat(value.isMissingNode() ? Optional.empty() : Optional.of(value.asText()))
                    .as(name).isEqualTo(expectedOverride(role));
        });
    }

    /** Empty: the role takes the image's JDK_JAVA_OPTIONS (the file alone). */
    private static Optional<String> expectedOverride(String role) {
        return Optional.ofNullable(ROLE_FLAGS.get(role)).map(flags -> FROM_THE_FILE + " " + flags);
    }

    static Optional<String> imageJdkJavaOptions(String envArguments) {
        Matcher m = ENV_VALUE.matcher(envArguments);
        return m.find() ? Optional.of(m.group(1) != null ? m.group(1) : m.group(2)) : Optional.empty();
    }
}
