package dev.omnicall.app.demo;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/**
 * Debian's {@code pocketsphinx_continuous} (pocketsphinx + pocketsphinx-en-us: the CMU en-us acoustic model and
 * dictionary), a recognizer nobody on this project wrote, with two JSGF grammars:
 *
 * <ul>
 *   <li>sentence: the answers as the alternatives of one rule; the recognizer must pick one of them;</li>
 *   <li>word loop: any sequence of the domain's words, for a word error rate.</li>
 * </ul>
 *
 * The beams are opened wide ({@code -beam 1e-100 -pbeam 1e-100 -wbeam 1e-80 -maxhmmpf -1}): with the defaults the
 * sentence grammar's search often prunes every path that reaches the grammar's end ("Final result does not match
 * the grammar") and returns nothing, even on espeak-ng's own answers. The word loop uses
 * {@code -wip 1e-3 -silprob 0.1} as {@code demo-model/train/voice_asr.py} does (fewer inserted short words).
 * Input: a 16 kHz mono 16-bit WAV (see {@link Audio#forRecognizer}).
 */
public final class Pocketsphinx {

    public static final String BINARY = "pocketsphinx_continuous";
    static final Path DICTIONARY = Path.of("/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict");
    private static final List<String> WIDE_BEAMS = List.of("-beam", "1e-100", "-pbeam", "1e-100", "-wbeam", "1e-80",
            "-maxhmmpf", "-1");

    private final Path sentenceGrammar;
    private final Path wordGrammar;
    private final List<String> sentences;
    private final int vocabularySize;

    /**
     * @param sentences  the alternatives of the sentence grammar (the answers)
     * @param vocabulary texts whose words make the word loop
     */
    public Pocketsphinx(Path workDir, List<String> sentences, Collection<String> vocabulary) throws IOException {
        this.sentences = sentences.stream().map(Words::normalized).toList();
        Set<String> words = new TreeSet<>();
        vocabulary.forEach(t -> words.addAll(Words.of(t)));
        this.sentences.forEach(s -> words.addAll(Words.of(s)));
        Set<String> known = dictionaryWords();
        List<String> missing = words.stream().filter(w -> !known.contains(w)).toList();
        if (!missing.isEmpty()) {
            throw new IllegalStateException("words not in " + DICTIONARY + " (pocketsphinx cannot load a grammar with them): "
                    + missing);
        }
        vocabularySize = words.size();
        Files.createDirectories(workDir);
        sentenceGrammar = workDir.resolve("answers.jsgf");
        Files.writeString(sentenceGrammar, "#JSGF V1.0;\ngrammar answers;\npublic <answer> = "
                + this.sentences.stream().map(s -> "( " + s + " )").collect(Collectors.joining(" | ")) + " ;\n");
        wordGrammar = workDir.resolve("words.jsgf");
        Files.writeString(wordGrammar, "#JSGF V1.0;\ngrammar words;\n<word> = " + String.join(" | ", words)
                + " ;\npublic <loop> = <word>+ ;\n");
    }

    /** Whether the binary and the en-us model are installed (scripts/install-test-tools installs them). */
    public static boolean installed() {
        return Files.isRegularFile(DICTIONARY) && Files.isExecutable(Path.of("/usr/bin/" + BINARY));
    }

    public int vocabularySize() {
        return vocabularySize;
    }

    /** What the sentence grammar heard: one or more answers' words, or "" when its search found no complete sentence. */
    public String sentence(Path wav16k) throws IOException, InterruptedException {
        List<String> args = new ArrayList<>(WIDE_BEAMS);
        args.addAll(List.of("-vad_postspeech", "150"));
        return run(wav16k, sentenceGrammar, args);
    }

    /** The index of the answer the sentence grammar picked (closest by word edits when it heard more than one), -1 for none. */
    public int pick(String sentenceHypothesis) {
        List<String> hyp = Words.of(sentenceHypothesis);
        if (hyp.isEmpty()) {
            return -1;
        }
        int best = -1;
        int bestDistance = Integer.MAX_VALUE;
        for (int i = 0; i < sentences.size(); i++) {
            int d = Words.editDistance(Words.of(sentences.get(i)), hyp);
            if (d < bestDistance) {
                best = i;
                bestDistance = d;
            }
        }
        return best;
    }

    /** What the word loop heard. */
    public String words(Path wav16k) throws IOException, InterruptedException {
        List<String> args = new ArrayList<>(WIDE_BEAMS);
        args.addAll(List.of("-vad_postspeech", "150", "-wip", "1e-3", "-silprob", "0.1"));
        return run(wav16k, wordGrammar, args);
    }

    private static String run(Path wav, Path grammar, List<String> options) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(BINARY, "-infile", wav.toString(), "-jsgf", grammar.toString(),
                "-logfn", "/dev/null"));
        cmd.addAll(options);
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException(BINARY + " on " + wav + " did not finish in 120 s");
        }
        if (p.exitValue() != 0) {
            throw new IOException(String.join(" ", cmd) + " exited " + p.exitValue());
        }
        return out.lines().map(String::trim).filter(l -> !l.isEmpty()).collect(Collectors.joining(" "));
    }

    private static Set<String> dictionaryWords() throws IOException {
        Set<String> words = new HashSet<>();
        try (var lines = Files.lines(DICTIONARY, StandardCharsets.UTF_8)) {
            lines.forEach(l -> {
                int space = l.indexOf(' ');
                if (space > 0) {
                    words.add(l.substring(0, space));
                }
            });
        }
        return words;
    }
}
