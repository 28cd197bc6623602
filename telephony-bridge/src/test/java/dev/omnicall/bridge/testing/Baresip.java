package dev.omnicall.bridge.testing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Runs the real baresip (Debian baresip-core 1.0) headless: {@code aufile} plays a WAV as the
 * microphone, {@code sndfile} records what it hears (the bridge's reply) to {@code dump-*-dec.wav}.
 * It dials the bridge at start and quits (hanging up) after {@code seconds}.
 */
public final class Baresip implements AutoCloseable {

    private final Process process;
    private final Path dir;
    private final long startedNanos = System.nanoTime();

    private Baresip(Process process, Path dir) {
        this.process = process;
        this.dir = dir;
    }

    /** @param microphoneWav 8 kHz mono S16 WAV, longer than the call (baresip hangs up at its end) */
    public static Baresip call(Path workDir, int bridgePort, Path microphoneWav, int seconds) throws IOException {
        Path dir = Files.createTempDirectory(workDir, "baresip-");
        Path records = Files.createDirectories(dir.resolve("records"));
        int sipPort = FreePorts.udpAndTcp();
        int rtp = FreePorts.rtpPair();
        String config = String.join("\n",
                "poll_method poll",
                "sip_listen 127.0.0.1:" + sipPort,
                "sip_transports udp",
                "net_interface 127.0.0.1",
                "audio_player aubridge,omnicall-test",
                "audio_source aufile," + microphoneWav,
                "audio_alert aubridge,omnicall-test",
                "audio_srate 8000",
                "audio_channels 1",
                "rtp_ports " + rtp + "-" + (rtp + 9),
                "module_path /usr/lib/baresip/modules",
                "module g711.so",
                "module aufile.so",
                "module aubridge.so",
                "module sndfile.so",
                "module_app account.so",
                "module_app menu.so",
                "snd_path " + records,
                "");
        Files.writeString(dir.resolve("config"), config, StandardCharsets.US_ASCII);
        Files.writeString(dir.resolve("accounts"), "<sip:caller@127.0.0.1>;regint=0;audio_codecs=PCMU/8000/1\n",
                StandardCharsets.US_ASCII);
        Files.writeString(dir.resolve("contacts"), "", StandardCharsets.US_ASCII);
        List<String> cmd = List.of("baresip", "-4", "-f", dir.toString(), "-t", Integer.toString(seconds),
                "-e", "/dial sip:bot@127.0.0.1:" + bridgePort);
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true)
                .redirectOutput(dir.resolve("baresip.log").toFile()).redirectInput(ProcessBuilder.Redirect.PIPE).start();
        return new Baresip(p, dir);
    }

    /** Waits for baresip to quit; true when it did within the timeout. */
    public boolean await(long timeoutSeconds) throws InterruptedException {
        return process.waitFor(timeoutSeconds, TimeUnit.SECONDS);
    }

    public String log() {
        Path log = dir.resolve("baresip.log");
        try {
            return Files.exists(log) ? Files.readString(log, StandardCharsets.ISO_8859_1) : "";
        } catch (IOException e) {
            return "(could not read " + log + ": " + e + ")";
        }
    }

    /**
     * One line for a failure message: whether baresip still runs (or its exit code), how long since it started,
     * and the last lines of its log (the dial, a SIP error response, a module that did not load).
     */
    public String state() {
        long ms = (System.nanoTime() - startedNanos) / 1_000_000;
        String run = process.isAlive() ? "running" : "exited with " + process.exitValue();
        List<String> lines = log().lines().filter(l -> !l.isBlank()).toList();
        String tail = String.join(" | ", lines.subList(Math.max(0, lines.size() - 6), lines.size()));
        return "baresip " + run + " " + ms + " ms after start; last log lines: " + (tail.isEmpty() ? "(none)" : tail);
    }

    /** The recording of what baresip received (the reply audio), if sndfile wrote one. */
    public Optional<Path> receivedRecording() throws IOException {
        try (Stream<Path> files = Files.list(dir.resolve("records"))) {
            return files.filter(f -> f.getFileName().toString().endsWith("-dec.wav")).findFirst();
        }
    }

    @Override
    public void close() throws InterruptedException {
        if (process.isAlive()) {
            process.destroy();
            if (!process.waitFor(5, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        }
    }
}
