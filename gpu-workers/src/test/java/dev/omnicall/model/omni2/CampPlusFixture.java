package dev.omnicall.model.omni2;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.omnicall.model.PythonOracle;
import dev.omnicall.model.io.TorchCheckpoint;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;
import javax.sound.sampled.AudioFileFormat;
import javax.sound.sampled.AudioFormat;
import javax.sound.sampled.AudioInputStream;
import javax.sound.sampled.AudioSystem;

/**
 * The speaker test fixtures, made once per test JVM: deterministic prompt WAVs written here, and
 * src/test/resources/oracle/omni2/campplus.py run on them with Debian PyTorch (torchaudio's Kaldi fbank, a tiny
 * network with CAM++'s interface exported to {@code campplus.onnx}, its x-vectors in torch). Tests that need the
 * oracle skip when {@link PythonOracle#torchAvailable()} is false.
 */
final class CampPlusFixture {
    /** The WAVs handed to the oracle, in its index order. */
    static final String[] WAVS = {"voice_a.wav", "voice_b.wav", "one_frame.wav", "two_frames.wav",
        "voice_c_22050_float.wav", "voice_d_24000.wav"};
    static final int VOICE_A = 0;
    static final int VOICE_B = 1;
    /** 22.05 kHz 32-bit float with a fact chunk, as LLaMA-Omni2's prompt_en.wav: resampled to 16 kHz. */
    static final int VOICE_C_22050_FLOAT = 4;
    static final int VOICE_D_24000 = 5;

    private static CampPlusFixture instance;

    final Path dir;
    final Path onnx;
    final Path channelsFirstOnnx;
    private final Map<String, float[]> outputs = new HashMap<>();
    private final Map<String, long[]> shapes = new HashMap<>();

    private CampPlusFixture(Path dir) throws Exception {
        this.dir = dir;
        String[] args = new String[WAVS.length + 1];
        args[0] = dir.toString();
        for (int i = 0; i < WAVS.length; i++) {
            Path wav = dir.resolve(WAVS[i]);
            switch (i) {
                case VOICE_C_22050_FLOAT -> writeFloatWav(wav, toFloat(voice(30000, 22050, 170, 0.7, 5)), 22050);
                case VOICE_D_24000 -> writeWav(wav, voice(30000, 24000, 100, 0.9, 6), 24000, 1);
                default -> writeWav(wav, signal(i), 16000, 1);
            }
            args[i + 1] = wav.toString();
        }
        PythonOracle.runResource("/oracle/omni2/campplus.py", args);
        onnx = dir.resolve("campplus.onnx");
        channelsFirstOnnx = dir.resolve("campplus_channels_first.onnx");
        TorchCheckpoint out = TorchCheckpoint.open(dir.resolve("outputs.pt"), "out");
        try (NDManager m = NDManager.newBaseManager()) {
            for (String name : out.names()) {
                long[] shape = out.info(name).shape();
                try (NDArray a = out.load(m, name, DataType.FLOAT32, shape)) {
                    outputs.put(name, a.toFloatArray());
                    shapes.put(name, shape);
                }
            }
        }
    }

    static synchronized CampPlusFixture get() throws Exception {
        if (instance == null) {
            instance = new CampPlusFixture(Files.createTempDirectory("campplus-fixture"));
        }
        return instance;
    }

    Path wav(int i) {
        return dir.resolve(WAVS[i]);
    }

    /** The oracle's tensor {@code name + "_" + i} (fbank, feat, xvector). */
    float[] torch(String name, int i) {
        return outputs.get(name + "_" + i);
    }

    long[] shape(String name, int i) {
        return shapes.get(name + "_" + i);
    }

    /**
     * Prompt i's samples, deterministic: A is a 120 Hz voice with 0.2 s of digital silence inside (all-zero frames:
     * the log floor), B a brighter 210 Hz voice, then 400 samples (exactly one window) and 719 (two).
     */
    static short[] signal(int i) {
        return switch (i) {
            case VOICE_A -> {
                short[] s = voice(24000, 16000, 120, 1.0, 1);
                java.util.Arrays.fill(s, 10000, 13200, (short) 0);
                yield s;
            }
            case VOICE_B -> voice(19200, 16000, 210, 0.5, 2);
            case 2 -> voice(400, 16000, 150, 0.8, 3);
            case 3 -> voice(719, 16000, 150, 0.8, 4);
            default -> throw new IllegalArgumentException("no signal " + i);
        };
    }

    /** Harmonics of f0 up to 0.45 rate (with vibrato) falling off as k^-tilt, a syllable-rate envelope, noise. */
    static short[] voice(int n, int rate, double f0, double tilt, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        short[] s = new short[n];
        double phase = 0;
        for (int t = 0; t < n; t++) {
            double time = (double) t / rate;
            phase += 2 * Math.PI * f0 * (1 + 0.03 * Math.sin(2 * Math.PI * 5 * time)) / rate;
            double v = 0;
            for (int k = 1; k * f0 < 0.45 * rate; k++) {
                v += Math.sin(k * phase + k * k * 0.3) / Math.pow(k, tilt);
            }
            double envelope = 0.55 + 0.45 * Math.sin(2 * Math.PI * 3 * time);
            s[t] = (short) Math.max(-32768, Math.min(32767, 6000 * envelope * v + r.nextGaussian() * 150));
        }
        return s;
    }

    /** A 16-bit PCM WAV; {@code channels} > 1 repeats each sample on every channel. */
    static void writeWav(Path file, short[] samples, int rate, int channels) {
        ByteBuffer b = ByteBuffer.allocate(samples.length * 2 * channels).order(ByteOrder.LITTLE_ENDIAN);
        for (short v : samples) {
            for (int c = 0; c < channels; c++) {
                b.putShort(v);
            }
        }
        AudioFormat format = new AudioFormat(rate, 16, channels, true, false);
        try (AudioInputStream in = new AudioInputStream(new ByteArrayInputStream(b.array()), format, samples.length)) {
            AudioSystem.write(in, AudioFileFormat.Type.WAVE, file.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A 32-bit float mono WAV laid out as LLaMA-Omni2's prompt_en.wav: fmt (tag 3, 16 bytes), fact, data. */
    static void writeFloatWav(Path file, float[] samples, int rate) {
        ByteBuffer b = ByteBuffer.allocate(12 + 24 + 12 + 8 + 4 * samples.length).order(ByteOrder.LITTLE_ENDIAN);
        b.put("RIFF".getBytes()).putInt(b.capacity() - 8).put("WAVE".getBytes());
        b.put("fmt ".getBytes()).putInt(16).putShort((short) 3).putShort((short) 1) // IEEE float, 1 channel
                .putInt(rate).putInt(rate * 4).putShort((short) 4).putShort((short) 32);
        b.put("fact".getBytes()).putInt(4).putInt(samples.length);
        b.put("data".getBytes()).putInt(4 * samples.length);
        for (float v : samples) {
            b.putFloat(v);
        }
        try {
            Files.write(file, b.array());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static float[] toFloat(short[] s) {
        float[] f = new float[s.length];
        for (int i = 0; i < s.length; i++) {
            f[i] = s[i] / 32768f;
        }
        return f;
    }

    static float[] flat(float[][] rows) {
        int w = rows.length == 0 ? 0 : rows[0].length;
        float[] f = new float[rows.length * w];
        for (int i = 0; i < rows.length; i++) {
            System.arraycopy(rows[i], 0, f, i * w, w);
        }
        return f;
    }

    static float maxAbsDiff(float[] a, float[] b) {
        if (a.length != b.length) {
            throw new AssertionError("lengths differ: " + a.length + " vs " + b.length);
        }
        float d = 0;
        for (int i = 0; i < a.length; i++) {
            d = Math.max(d, Math.abs(a[i] - b[i]));
        }
        return d;
    }
}
