package dev.omnicall.bridge.vad;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Real synthetic speech for tests: espeak-ng says a sentence, sox turns it into raw mono S16LE at the
 * wanted rate. Cached under target/test-speech so each sentence is synthesized once per build.
 */
public final class Speech {
    private Speech() {
    }

    public static boolean toolsAvailable() {
        return onPath("espeak-ng") && onPath("sox");
    }

    private static boolean onPath(String tool) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (Files.isExecutable(Path.of(dir, tool))) {
                return true;
            }
        }
        return false;
    }

    /** The sentence as 16-bit samples at {@code rate} Hz. */
    public static short[] say(String sentence, int rate) throws IOException, InterruptedException {
        Path dir = Path.of("target", "test-speech");
        Files.createDirectories(dir);
        String key = Integer.toHexString(sentence.hashCode()) + "-" + rate;
        Path raw = dir.resolve(key + ".raw");
        if (!Files.exists(raw)) {
            Path wav = dir.resolve(key + ".wav");
            run(List.of("espeak-ng", "-v", "en-us", "-s", "150", "-w", wav.toString(), sentence));
            run(List.of("sox", wav.toString(), "-r", String.valueOf(rate), "-c", "1", "-b", "16", "-e", "signed-integer",
                    "-t", "raw", raw.toString()));
        }
        byte[] bytes = Files.readAllBytes(raw);
        short[] pcm = new short[bytes.length / 2];
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asShortBuffer().get(pcm);
        return pcm;
    }

    private static void run(List<String> command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IOException(command + " failed: " + new String(out));
        }
    }

    /** Low-level white noise, as on a quiet line (about -60 dBFS). */
    public static short[] lineNoise(int samples, long seed) {
        java.util.Random r = new java.util.Random(seed);
        short[] s = new short[samples];
        for (int i = 0; i < samples; i++) {
            s[i] = (short) Math.round(r.nextGaussian() * 30);
        }
        return s;
    }

    public static short[] concat(short[]... parts) {
        int n = 0;
        for (short[] p : parts) {
            n += p.length;
        }
        short[] out = new short[n];
        int at = 0;
        for (short[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }
}
