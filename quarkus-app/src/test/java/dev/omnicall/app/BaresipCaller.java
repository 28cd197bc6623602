package dev.omnicall.app;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A real SIP caller the test can steer while the call is up: Debian's baresip, headless, whose microphone is
 * a WAV file ({@code aufile}) and whose console ({@code cons}, on a local TCP port) takes menu commands. It
 * dials at start with the first sentence as its microphone, followed by a long silence; {@link #say} switches
 * the microphone to another sentence (menu command {@code /ausrc aufile,FILE}), so the test can speak when it
 * chooses: after the reply has played to its end, or while it plays (a barge-in). What the caller hears is
 * recorded ({@code sndfile}).
 *
 * <p>{@code bin/call} plays one fixed file; this caller exists because a barge-in at a chosen point of the reply,
 * on a machine whose load changes the reply's start by seconds, cannot be scripted into a fixed file.
 */
final class BaresipCaller implements AutoCloseable {

    /** Silence after each sentence: baresip hangs up when its microphone file ends. */
    private static final int SILENCE_SECONDS = 120;

    private final Path dir;
    private final Process process;
    private final int consPort;

    private BaresipCaller(Path dir, Process process, int consPort) {
        this.dir = dir;
        this.process = process;
        this.consPort = consPort;
    }

    /**
     * Starts baresip in {@code dir} and dials {@code to} with digest credentials, the microphone playing
     * {@code firstSentence} (spoken by espeak-ng) and then silence.
     */
    static BaresipCaller dial(Path dir, String to, String user, String password, String firstSentence)
            throws IOException, InterruptedException {
        Files.createDirectories(dir);
        return dialWith(dir, to, user, password, speech(dir, "sentence-0", firstSentence));
    }

    /** As {@link #dial}, the microphone playing {@code mic} (8 kHz mono 16-bit WAV, ending in a long silence). */
    static BaresipCaller dialWith(Path dir, String to, String user, String password, Path mic)
            throws IOException, InterruptedException {
        Files.createDirectories(dir.resolve("records"));
        try (Stream<Path> old = Files.list(dir.resolve("records"))) {
            for (Path p : old.toList()) {
                Files.delete(p);
            }
        }
        // baresip 1.0 binds SIP over UDP and TCP on sip_listen's port and TLS on the next one whatever
        // sip_transports says, and any of them may have been taken since freePort() looked (CI saw "SIP/TLS transport
        // failed: Address already in use"): such a start is retried on fresh ports, its log kept beside
        for (int attempt = 1; ; attempt++) {
            Started p = start(dir, to, user, password, mic);
            String log = awaitReady(dir, p.process);
            if (log == null || !log.contains("Address already in use") || attempt == START_ATTEMPTS) {
                return new BaresipCaller(dir, p.process, p.consPort);
            }
            Files.move(dir.resolve("baresip.log"), dir.resolve("baresip-start-" + attempt + ".log"),
                    java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /** Starts of one caller that found a port taken, before the last start is returned as it is. */
    private static final int START_ATTEMPTS = 3;

    private record Started(Process process, int consPort) {
    }

    /** Null once baresip says it is ready (or is still starting after 10 s); its log when it exited before. */
    private static String awaitReady(Path dir, Process p) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < deadline) {
            boolean exited = p.waitFor(20, TimeUnit.MILLISECONDS);
            String log = Files.exists(dir.resolve("baresip.log")) ? Files.readString(dir.resolve("baresip.log"),
                    StandardCharsets.ISO_8859_1) : "";
            if (log.contains("baresip is ready")) {
                return null;
            }
            if (exited) {
                return log;
            }
        }
        return null;
    }

    private static Started start(Path dir, String to, String user, String password, Path mic) throws IOException {
        int sipPort = freePort();
        int rtpPort = freePort() & ~1;
        int consPort = freePort();
        Files.writeString(dir.resolve("config"), String.join("\n",
                "poll_method poll",
                "sip_listen 127.0.0.1:" + sipPort,
                "sip_transports udp",
                "net_interface 127.0.0.1",
                "audio_source aufile," + mic,
                "audio_player aubridge,omnicall-test",
                "audio_alert aubridge,omnicall-test",
                "audio_srate 8000",
                "audio_channels 1",
                "rtp_ports " + rtpPort + "-" + (rtpPort + 9),
                "module_path /usr/lib/baresip/modules",
                "module g711.so",
                "module aufile.so",
                "module aubridge.so",
                "module sndfile.so",
                "module cons.so",
                "module_app account.so",
                "module_app menu.so",
                "cons_listen 127.0.0.1:" + consPort,
                "snd_path " + dir.resolve("records"),
                ""));
        Files.writeString(dir.resolve("accounts"), "<sip:" + user + "@127.0.0.1>;regint=0;audio_codecs=PCMU/8000/1;auth_user="
                + user + ";auth_pass=" + password + "\n");
        Files.writeString(dir.resolve("contacts"), "");
        Process p = new ProcessBuilder("baresip", "-4", "-f", dir.toString(), "-e", "/dial " + to)
                .directory(dir.toFile()).redirectErrorStream(true).redirectOutput(dir.resolve("baresip.log").toFile()).start();
        return new Started(p, consPort);
    }

    /** Switches the microphone to {@code sentence} (espeak-ng) followed by silence: the caller speaks now. */
    void say(String name, String sentence) throws IOException, InterruptedException {
        Path wav = speech(dir, name, sentence);
        command("/ausrc aufile," + wav);
    }

    /** Hangs up (BYE) and quits. */
    void hangUp() throws IOException, InterruptedException {
        command("/hangup");
        Thread.sleep(500);
        command("/quit");
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
            process.destroy();
        }
    }

    boolean isAlive() {
        return process.isAlive();
    }

    String log() {
        try {
            return Files.readString(dir.resolve("baresip.log"), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }

    /** The recording of what the caller heard (baresip's decoded side), once the call has ended. */
    Optional<Path> heard() throws IOException {
        try (Stream<Path> files = Files.list(dir.resolve("records"))) {
            return files.filter(f -> f.getFileName().toString().endsWith("-dec.wav")).findFirst();
        }
    }

    private void command(String line) throws IOException, InterruptedException {
        IOException last = null;
        for (int i = 0; i < 20; i++) { // the console listens a moment after baresip starts
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), consPort), 2000);
                OutputStream out = s.getOutputStream();
                out.write((line + "\n").getBytes(StandardCharsets.US_ASCII));
                out.flush();
                Thread.sleep(200); // let it read the line before the connection closes
                return;
            } catch (IOException e) {
                last = e;
                sleepQuietly();
            }
        }
        throw new IOException("baresip's console on port " + consPort + " did not take '" + line + "'; log:\n" + log(), last);
    }

    @Override
    public void close() {
        if (process.isAlive()) {
            process.destroy();
            try {
                if (!process.waitFor(10, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** {@code sentence} by espeak-ng as 8 kHz mono 16-bit, half a second of silence before and a long one after. */
    static Path speech(Path dir, String name, String sentence) throws IOException, InterruptedException {
        Path raw = dir.resolve(name + "-raw.wav");
        Path wav = dir.resolve(name + ".wav");
        exec("espeak-ng", "-w", raw.toString(), sentence);
        exec("sox", raw.toString(), "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", wav.toString(),
                "pad", "0.5", String.valueOf(SILENCE_SECONDS));
        return wav;
    }

    /**
     * {@code first}, exactly {@code pauseMs} of silence, then {@code second}, by espeak-ng as one 8 kHz mono 16-bit
     * WAV: half a second of silence before and a long one after. espeak-ng's own leading and trailing silence is
     * trimmed from both parts, so the pause is the one asked for.
     */
    static Path speechWithPause(Path dir, String name, String first, int pauseMs, String second)
            throws IOException, InterruptedException {
        Path a = dir.resolve(name + "-a.wav");
        Path b = dir.resolve(name + "-b.wav");
        Path aTrim = dir.resolve(name + "-a-trim.wav");
        Path bTrim = dir.resolve(name + "-b-trim.wav");
        Path wav = dir.resolve(name + ".wav");
        exec("espeak-ng", "-w", a.toString(), first);
        exec("espeak-ng", "-w", b.toString(), second);
        for (Path[] io : new Path[][] {{a, aTrim}, {b, bTrim}}) {
            exec("sox", io[0].toString(), "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", io[1].toString(),
                    "silence", "1", "0.01", "1%", "reverse", "silence", "1", "0.01", "1%", "reverse");
        }
        exec("sox", aTrim.toString(), dir.resolve(name + "-a-pad.wav").toString(), "pad", "0",
                String.format(java.util.Locale.ROOT, "%.3f", pauseMs / 1000.0));
        exec("sox", dir.resolve(name + "-a-pad.wav").toString(), bTrim.toString(), wav.toString(), "pad", "0.5",
                String.valueOf(SILENCE_SECONDS));
        return wav;
    }

    /** Length of a WAV file in seconds, from soxi. */
    static double durationSeconds(Path wav) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("soxi", "-D", wav.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        return Double.parseDouble(out);
    }

    /**
     * Two espeak-ng sentences with 7 s of silence between them, as one WAV in {@code dir} (for {@code bin/call}, which
     * adds the listening silence): a caller's two turns.
     */
    static Path twoUtterances(Path dir, String first, String second) throws IOException, InterruptedException {
        Files.createDirectories(dir);
        Path a = dir.resolve("first.wav");
        Path b = dir.resolve("second.wav");
        Path aPadded = dir.resolve("first-padded.wav");
        Path both = dir.resolve("two-utterances.wav");
        exec("espeak-ng", "-w", a.toString(), first);
        exec("espeak-ng", "-w", b.toString(), second);
        exec("sox", a.toString(), aPadded.toString(), "pad", "0", "7");
        exec("sox", aPadded.toString(), b.toString(), both.toString());
        return both;
    }

    static void exec(String... command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(List.of(command)).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).as("%s finished", command[0]).isTrue();
        assertThat(p.exitValue()).as("%s: %s", String.join(" ", command), out).isZero();
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket()) {
            s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            return s.getLocalPort();
        }
    }

    private static void sleepQuietly() {
        try {
            Thread.sleep(250);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
