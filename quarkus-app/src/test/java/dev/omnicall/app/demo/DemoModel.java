package dev.omnicall.app.demo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The project's demo model as the end-to-end test sees it: {@code demo-model/intents.json} (intents, their fixed
 * answers, held-out questions, held-out caller voices and the bot voice) and the trained checkpoint in
 * {@code demo-model/checkpoint}. {@code -Ddemo.model.dir=DIR} tests another checkpoint in the same layout (for
 * example the tiny random one, to exercise the test itself before a trained model exists).
 */
public final class DemoModel {

    /** One intent: its name, the answer the bot must say, its held-out questions. */
    public record Intent(String name, String answer, List<String> test) {
    }

    /** An espeak-ng voice: {@code -v voice+variant -s speed -p pitch}. */
    public record Voice(String voice, String variant, int speed, int pitch) {

        /** The espeak-ng arguments that speak with this voice. */
        public List<String> espeakArgs() {
            return List.of("-v", variant.isEmpty() ? voice : voice + "+" + variant, "-s", Integer.toString(speed),
                    "-p", Integer.toString(pitch));
        }

        @Override
        public String toString() {
            return (variant.isEmpty() ? voice : voice + "+" + variant) + " s" + speed + " p" + pitch;
        }
    }

    /** What intents.json says. */
    public record Intents(List<Intent> intents, List<String> testVoices, List<String> testVariants, List<Integer> testSpeeds,
                          List<Integer> testPitches, Voice bot) {

        /**
         * The held-out caller voice for the i-th call: voices, variants, speeds and pitches taken round-robin, so
         * twelve calls cover every held-out voice and variant.
         */
        public Voice callerVoice(int i) {
            return new Voice(testVoices.get(i % testVoices.size()), testVariants.get(i % testVariants.size()),
                    testSpeeds.get(i % testSpeeds.size()), testPitches.get((i / testSpeeds.size()) % testPitches.size()));
        }
    }

    private DemoModel() {
    }

    /** The repository root: the test runs in {@code quarkus-app/}. */
    public static Path repositoryRoot() {
        Path here = Path.of("").toAbsolutePath();
        return Files.isDirectory(here.resolve("demo-model")) ? here : here.getParent();
    }

    /** The checkpoint under test: {@code -Ddemo.model.dir}, else {@code demo-model/checkpoint}. */
    public static Path checkpoint() {
        String dir = System.getProperty("demo.model.dir", "");
        return dir.isBlank() ? repositoryRoot().resolve("demo-model/checkpoint") : Path.of(dir).toAbsolutePath();
    }

    /**
     * Whether the end-to-end test runs (JUnit's {@code @EnabledIf}): a checkpoint that claims to answer (the READY
     * marker beside it, the same marker that makes it the zero-setup default), or one named for evaluation with
     * {@code -Ddemo.e2e=true} or {@code -Ddemo.model.dir=DIR}. The first committed demo checkpoint gives one answer to
     * every question, so the default build does not run its accuracy test until a retrained one earns the marker.
     */
    public static boolean present() {
        if (!Files.isRegularFile(checkpoint().resolve("config.json"))) {
            return false;
        }
        boolean asked = Boolean.getBoolean("demo.e2e") || !System.getProperty("demo.model.dir", "").isBlank();
        return asked || Files.isRegularFile(checkpoint().resolve("READY"));
    }

    public static Path intentsFile() {
        return repositoryRoot().resolve("demo-model/intents.json");
    }

    public static Intents intents() {
        try {
            JsonNode root = new ObjectMapper().readTree(intentsFile().toFile());
            List<Intent> intents = new ArrayList<>();
            for (JsonNode i : root.path("intents")) {
                intents.add(new Intent(i.path("name").asText(), i.path("answer").asText(), strings(i.path("test"))));
            }
            JsonNode test = root.path("voices").path("test");
            JsonNode bot = root.path("voices").path("bot");
            if (intents.isEmpty() || test.isMissingNode() || bot.isMissingNode()) {
                throw new IllegalStateException(intentsFile() + " has no intents or no voices.test / voices.bot section");
            }
            return new Intents(intents, strings(test.path("voices")), strings(test.path("variants")),
                    ints(test.path("speeds")), ints(test.path("pitches")),
                    new Voice(bot.path("voice").asText(), bot.path("variant").asText(""), bot.path("speed").asInt(),
                            bot.path("pitch").asInt()));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + intentsFile(), e);
        }
    }

    private static List<String> strings(JsonNode array) {
        List<String> out = new ArrayList<>();
        array.forEach(n -> out.add(n.asText()));
        return out;
    }

    private static List<Integer> ints(JsonNode array) {
        List<Integer> out = new ArrayList<>();
        array.forEach(n -> out.add(n.asInt()));
        return out;
    }
}
