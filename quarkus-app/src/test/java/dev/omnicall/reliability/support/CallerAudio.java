package dev.omnicall.reliability.support;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Raw 8 kHz μ-law files for sipp's {@code rtp_stream}: espeak-ng speech or digital silence, made with sox. */
public final class CallerAudio {

    private CallerAudio() {
    }

    /** espeak-ng speech of {@code text}, padded with silence, as raw μ-law. */
    public static Path speech(Path dir, String name, String text, double padStart, double padEnd)
            throws IOException, InterruptedException {
        Path wav = dir.resolve(name + ".wav");
        exec(List.of("espeak-ng", "-v", "en-us", "-s", "150", "-w", wav.toString(), text));
        Path out = dir.resolve(name + ".ul");
        exec(List.of("sox", wav.toString(), "-r", "8000", "-c", "1", "-t", "ul", out.toString(), "pad",
                Double.toString(padStart), Double.toString(padEnd)));
        return out;
    }

    /** Low-level noise (below any VAD threshold) as raw μ-law: keeps RTP flowing without speech. */
    public static Path quiet(Path dir, String name, double seconds) throws IOException, InterruptedException {
        Path out = dir.resolve(name + ".ul");
        exec(List.of("sox", "-n", "-r", "8000", "-c", "1", "-t", "ul", out.toString(), "synth",
                Double.toString(seconds), "whitenoise", "vol", "0.001"));
        return out;
    }

    public static void exec(List<String> cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IOException(String.join(" ", cmd) + " failed: " + new String(out));
        }
    }
}
