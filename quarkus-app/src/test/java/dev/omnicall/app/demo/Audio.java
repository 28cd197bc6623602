package dev.omnicall.app.demo;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

/** Speech files for the demo test: espeak-ng and sox for synthesis and rate changes, 16-bit mono PCM WAV in Java. */
public final class Audio {

    /** Amplitude (16-bit) above which a 20 ms frame counts as sound; G.711 silence decodes to a few units. */
    static final int SOUND_LEVEL = 300;

    private Audio() {
    }

    /** espeak-ng speaks {@code text} with {@code voice} into {@code wav} (its own rate, 22.05 kHz). */
    public static Path speak(String text, DemoModel.Voice voice, Path wav) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("espeak-ng"));
        cmd.addAll(voice.espeakArgs());
        cmd.addAll(List.of("-w", wav.toString(), text));
        exec(cmd);
        return wav;
    }

    /** The telephone band as a call carries it: 8 kHz G.711 mu-law and back to 16-bit PCM, at 8 kHz. */
    public static Path throughG711(Path in, Path out) throws IOException, InterruptedException {
        Path ulaw = out.resolveSibling(out.getFileName() + ".ulaw.wav");
        exec(List.of("sox", "-D", in.toString(), "-r", "8000", "-c", "1", "-e", "u-law", "-b", "8", ulaw.toString()));
        exec(List.of("sox", "-D", ulaw.toString(), "-e", "signed-integer", "-b", "16", out.toString()));
        Files.delete(ulaw);
        return out;
    }

    /**
     * What the recognizer gets: 16 kHz mono 16-bit, cut to the sound in it (0.3 s margins, 0.5 s of padding either
     * side, so a recording's silence before the reply does not count), with a -50 dBFS noise floor added. The floor
     * is there because pocketsphinx's acoustic model is wide-band (16 kHz): on telephone audio the mel filters above
     * 4 kHz see digital silence, log energies far below anything it was trained on, and its grammar search then
     * fails to finish on clean espeak-ng speech (measured: 0 of 12 answers through G.711 without the floor, 12 of 12
     * with it). The noise is seeded: the same file gives the same input.
     *
     * @return the voiced seconds found (0: nothing above the noise floor; {@code out} is then not written)
     */
    public static double forRecognizer(Path in, Path out) throws IOException, InterruptedException {
        Path raw = out.resolveSibling(out.getFileName() + ".16k.raw");
        exec(List.of("sox", "-D", in.toString(), "-t", "raw", "-r", "16000", "-c", "1", "-e", "signed-integer", "-b", "16",
                raw.toString()));
        short[] pcm = toShorts(Files.readAllBytes(raw));
        Files.delete(raw);
        int frame = 320;
        int first = -1;
        int last = -1;
        for (int f = 0; f * frame < pcm.length; f++) {
            int peak = 0;
            for (int i = f * frame; i < Math.min(pcm.length, (f + 1) * frame); i++) {
                peak = Math.max(peak, Math.abs(pcm[i]));
            }
            if (peak > SOUND_LEVEL) {
                first = first < 0 ? f : first;
                last = f;
            }
        }
        if (first < 0) {
            return 0;
        }
        int margin = 16000 * 3 / 10;
        int from = Math.max(0, first * frame - margin);
        int to = Math.min(pcm.length, (last + 1) * frame + margin);
        int pad = 16000 / 2;
        short[] cut = new short[pad + (to - from) + pad];
        System.arraycopy(pcm, from, cut, pad, to - from);
        Random noise = new Random(20261203L);
        for (int i = 0; i < cut.length; i++) {
            int v = cut[i] + (int) Math.round((noise.nextDouble() * 2 - 1) * 100);
            cut[i] = (short) Math.max(Short.MIN_VALUE, Math.min(Short.MAX_VALUE, v));
        }
        writeWav(out, cut, 16000);
        return (last - first + 1) * frame / 16000.0;
    }

    static short[] toShorts(byte[] bytes) {
        short[] s = new short[bytes.length / 2];
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asShortBuffer().get(s);
        return s;
    }

    /** A canonical 44-byte-header PCM WAV. */
    static void writeWav(Path out, short[] pcm, int rate) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(44 + pcm.length * 2).order(ByteOrder.LITTLE_ENDIAN);
        b.put("RIFF".getBytes(StandardCharsets.US_ASCII)).putInt(36 + pcm.length * 2).put("WAVE".getBytes(StandardCharsets.US_ASCII));
        b.put("fmt ".getBytes(StandardCharsets.US_ASCII)).putInt(16).putShort((short) 1).putShort((short) 1).putInt(rate)
                .putInt(rate * 2).putShort((short) 2).putShort((short) 16);
        b.put("data".getBytes(StandardCharsets.US_ASCII)).putInt(pcm.length * 2);
        for (short s : pcm) {
            b.putShort(s);
        }
        Files.write(out, b.array());
    }

    /** Length in seconds of a WAV, as sox reads it. */
    public static double seconds(Path wav) throws IOException, InterruptedException {
        return Double.parseDouble(exec(List.of("sox", "--i", "-D", wav.toString())).trim());
    }

    static String exec(List<String> command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException(String.join(" ", command) + " did not finish in 120 s");
        }
        if (p.exitValue() != 0) {
            throw new IOException(String.join(" ", command) + " exited " + p.exitValue() + ": " + out);
        }
        return out;
    }
}
