package dev.omnicall.bridge.testing;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Test speech from espeak-ng, converted with sox, and the envelope maths the assertions use. */
public final class TestAudio {

    private TestAudio() {
    }

    /**
     * Speaks {@code text} with espeak-ng and converts it with sox.
     *
     * @param soxOutputArgs sox output format arguments, e.g. {@code -r 8000 -c 1 -t ul} for raw μ-law
     */
    public static Path speak(Path dir, String name, String text, double padStartS, double padEndS,
                             String... soxOutputArgs) throws IOException, InterruptedException {
        Path wav = dir.resolve(name + "-espeak.wav");
        exec(List.of("espeak-ng", "-v", "en-us", "-s", "150", "-w", wav.toString(), text));
        Path out = dir.resolve(name);
        List<String> sox = new ArrayList<>(List.of("sox", wav.toString()));
        sox.addAll(List.of(soxOutputArgs));
        sox.add(out.toString());
        sox.addAll(List.of("pad", Double.toString(padStartS), Double.toString(padEndS)));
        exec(sox);
        return out;
    }

    /** A WAV of digital silence, 8 kHz mono S16 (baresip's aufile microphone). */
    public static Path silenceWav(Path dir, String name, double seconds) throws IOException, InterruptedException {
        Path out = dir.resolve(name);
        exec(List.of("sox", "-n", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", out.toString(), "trim", "0",
                Double.toString(seconds)));
        return out;
    }

    /** Converts any audio file to raw 16-bit little-endian mono at {@code rate} and returns the samples. */
    public static short[] readAsPcm(Path file, int rate) throws IOException, InterruptedException {
        Path raw = Files.createTempFile(file.getParent(), "pcm-", ".s16");
        exec(List.of("sox", file.toString(), "-r", Integer.toString(rate), "-c", "1", "-b", "16", "-e", "signed-integer",
                "-L", "-t", "raw", raw.toString()));
        return pcm(Files.readAllBytes(raw));
    }

    /** Resamples 16-bit mono samples from {@code fromRate} to {@code toRate} with sox (an independent resampler). */
    public static short[] resample(Path dir, short[] pcm, int fromRate, int toRate) throws IOException, InterruptedException {
        Path in = Files.createTempFile(dir, "resample-in-", ".s16");
        Path out = Files.createTempFile(dir, "resample-out-", ".s16");
        Files.write(in, bytes(pcm));
        exec(List.of("sox", "-t", "raw", "-r", Integer.toString(fromRate), "-c", "1", "-b", "16", "-e", "signed-integer",
                "-L", in.toString(), "-t", "raw", "-r", Integer.toString(toRate), "-c", "1", "-b", "16", "-e",
                "signed-integer", "-L", out.toString()));
        return pcm(Files.readAllBytes(out));
    }

    public static short[] pcm(byte[] s16le) {
        short[] out = new short[s16le.length / 2];
        ByteBuffer.wrap(s16le).order(ByteOrder.LITTLE_ENDIAN).asShortBuffer().get(out);
        return out;
    }

    public static byte[] bytes(short[] pcm) {
        ByteBuffer b = ByteBuffer.allocate(pcm.length * 2).order(ByteOrder.LITTLE_ENDIAN);
        b.asShortBuffer().put(pcm);
        return b.array();
    }

    /** RMS energy in dBFS of consecutive {@code frameMs} frames. */
    public static double[] envelopeDb(short[] pcm, int rate, int frameMs) {
        int frame = rate * frameMs / 1000;
        double[] env = new double[pcm.length / frame];
        for (int f = 0; f < env.length; f++) {
            double sum = 0;
            for (int i = f * frame; i < (f + 1) * frame; i++) {
                sum += (double) pcm[i] * pcm[i];
            }
            double rms = Math.sqrt(sum / frame) / 32768.0;
            env[f] = 20 * Math.log10(Math.max(rms, 1e-6));
        }
        return env;
    }

    /** Index of the first and last frame within {@code belowPeakDb} of the loudest frame; null if none. */
    public static int[] activeSpan(double[] envDb, double belowPeakDb) {
        double peak = Double.NEGATIVE_INFINITY;
        for (double v : envDb) {
            peak = Math.max(peak, v);
        }
        int first = -1;
        int last = -1;
        for (int i = 0; i < envDb.length; i++) {
            if (envDb[i] >= peak - belowPeakDb) {
                if (first < 0) {
                    first = i;
                }
                last = i;
            }
        }
        return first < 0 ? null : new int[]{first, last};
    }

    /** Pearson correlation of two equally long series. */
    public static double correlation(double[] a, double[] b) {
        int n = Math.min(a.length, b.length);
        double ma = 0;
        double mb = 0;
        for (int i = 0; i < n; i++) {
            ma += a[i];
            mb += b[i];
        }
        ma /= n;
        mb /= n;
        double sab = 0;
        double saa = 0;
        double sbb = 0;
        for (int i = 0; i < n; i++) {
            sab += (a[i] - ma) * (b[i] - mb);
            saa += (a[i] - ma) * (a[i] - ma);
            sbb += (b[i] - mb) * (b[i] - mb);
        }
        return sab / Math.sqrt(saa * sbb);
    }

    public static void exec(List<String> cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IOException(String.join(" ", cmd) + " failed: " + new String(out));
        }
    }
}
