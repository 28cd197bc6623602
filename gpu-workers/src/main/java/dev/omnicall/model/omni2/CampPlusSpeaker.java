package dev.omnicall.model.omni2;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import dev.omnicall.model.io.CheckpointException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import javax.sound.sampled.AudioFormat;
import javax.sound.sampled.AudioInputStream;
import javax.sound.sampled.AudioSystem;
import javax.sound.sampled.UnsupportedAudioFileException;

/**
 * The speaker's x-vector from a prompt WAV, as CosyVoice's frontend computes it ({@code _extract_spk_embedding}):
 * the 16 kHz samples → {@link KaldiFbank} (80 bins, mean over time removed) → {@code campplus.onnx} (CAM++ through
 * ONNX Runtime; its one input [1, frames, 80], its output [1, 192]) → the raw x-vector. It is not normalised here:
 * the flow L2-normalises it before {@code spk_embed_affine_layer} ({@link FlowMatching#speaker}), the same for a
 * cached x-vector. Run once per voice at start-up; every failure is one {@link CheckpointException} naming the file.
 *
 * <p>The WAV: mono, 16-bit signed PCM (read as sample / 32768, like torchaudio.load) or 32-bit float (LLaMA-Omni2's
 * {@code prompt_en.wav} is 22.05 kHz float), at 16 kHz or a higher rate brought down to 16 kHz as CosyVoice's
 * {@code load_wav} does ({@link SincResampler}). A lower rate is refused, as the reference's assertion does; so are
 * several channels (the reference averages them; the issue asks for a mono prompt).
 */
public final class CampPlusSpeaker {
    public static final String ONNX_FILE = "campplus.onnx";
    public static final int SAMPLE_RATE = KaldiFbank.SAMPLE_RATE;
    public static final int FBANK_BINS = 80;

    private CampPlusSpeaker() {
    }

    /** The prompt's raw x-vector: {@link #readPromptWav}, then {@link #embed}. */
    public static float[] xvector(Path campplusOnnx, Path promptWav) {
        float[] wave = readPromptWav(promptWav);
        if (KaldiFbank.frames(wave.length) == 0) {
            throw new CheckpointException("the speaker prompt " + promptWav + " holds " + wave.length
                    + " samples, less than one 25 ms fbank window (" + KaldiFbank.WINDOW + " at 16 kHz)");
        }
        float[][] fbank = KaldiFbank.campPlus().campPlusFeatures(wave);
        return embed(campplusOnnx, fbank);
    }

    /** CAM++ on mean-normalised fbank [frames][80] → the x-vector [D] (D = 192 for the published file). */
    public static float[] embed(Path campplusOnnx, float[][] fbank) {
        if (!Files.isRegularFile(campplusOnnx)) {
            throw new CheckpointException("the speaker model " + campplusOnnx + " is missing (CosyVoice2's " + ONNX_FILE
                    + " computes the x-vector from the prompt WAV)");
        }
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
            options.setIntraOpNumThreads(1); // once per voice at start-up: a few hundred frames
            try (OrtSession session = env.createSession(campplusOnnx.toString(), options)) {
                String input = checkInput(campplusOnnx, session.getInputInfo());
                float[] flat = new float[fbank.length * FBANK_BINS];
                for (int t = 0; t < fbank.length; t++) {
                    System.arraycopy(fbank[t], 0, flat, t * FBANK_BINS, FBANK_BINS);
                }
                try (OnnxTensor x = OnnxTensor.createTensor(env, FloatBuffer.wrap(flat),
                        new long[] {1, fbank.length, FBANK_BINS});
                        OrtSession.Result result = session.run(Map.of(input, x))) {
                    if (!(result.get(0) instanceof OnnxTensor out) || out.getInfo().type != OnnxJavaType.FLOAT) {
                        throw new CheckpointException(campplusOnnx + ": the first output is not a float tensor");
                    }
                    long[] shape = out.getInfo().getShape();
                    if (shape.length != 2 || shape[0] != 1 || shape[1] < 1) {
                        throw new CheckpointException(campplusOnnx + " gave an output of shape " + Arrays.toString(shape)
                                + "; one x-vector [1, D] expected");
                    }
                    float[] v = new float[(int) shape[1]];
                    out.getFloatBuffer().get(v);
                    return v;
                }
            }
        } catch (OrtException e) {
            throw new CheckpointException("ONNX Runtime cannot run the speaker model " + campplusOnnx + ": "
                    + e.getMessage(), e);
        }
    }

    /** The one input, float [batch, frames, 80] (dynamic batch and frames; CAM++'s is named "input"). */
    private static String checkInput(Path file, Map<String, NodeInfo> inputs) {
        if (inputs.size() != 1) {
            throw new CheckpointException(file + " takes inputs " + inputs.keySet() + "; CAM++ takes one, fbank [1, frames, "
                    + FBANK_BINS + "]");
        }
        Map.Entry<String, NodeInfo> in = inputs.entrySet().iterator().next();
        if (!(in.getValue().getInfo() instanceof TensorInfo info) || info.type != OnnxJavaType.FLOAT) {
            throw new CheckpointException(file + ": input '" + in.getKey() + "' is " + in.getValue().getInfo()
                    + "; CAM++ takes a float fbank [1, frames, " + FBANK_BINS + "]");
        }
        long[] shape = info.getShape(); // -1 where the dimension is symbolic
        boolean fits = shape.length == 3 && (shape[0] == 1 || shape[0] < 0) && shape[1] < 0 && shape[2] == FBANK_BINS;
        if (!fits) {
            throw new CheckpointException(file + ": input '" + in.getKey() + "' has shape " + Arrays.toString(shape)
                    + " (-1 = any); CAM++ takes fbank [1, frames, " + FBANK_BINS + "] with any number of frames");
        }
        return in.getKey();
    }

    /**
     * A mono WAV (16-bit PCM or 32-bit float, 16 kHz or more) → 16 kHz samples on a ±1 scale; one clear error when
     * missing, unreadable or another format.
     */
    public static float[] readPromptWav(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new CheckpointException("the speaker prompt WAV " + file + " is missing");
        }
        try (AudioInputStream in = AudioSystem.getAudioInputStream(file.toFile())) {
            AudioFormat f = in.getFormat();
            String convert = "; convert it with: sox IN -r 16000 -c 1 -b 16 -e signed-integer " + file.getFileName();
            if (f.getChannels() != 1) {
                throw new CheckpointException("the speaker prompt WAV " + file + " has " + f.getChannels()
                        + " channels; one (mono) is needed" + convert);
            }
            int rate = Math.round(f.getSampleRate());
            if (rate < SAMPLE_RATE || rate != f.getSampleRate()) {
                throw new CheckpointException("the speaker prompt WAV " + file + " is at " + f.getSampleRate()
                        + " Hz; " + SAMPLE_RATE + " Hz or a higher whole rate is needed" + convert);
            }
            boolean pcm16 = f.getEncoding() == AudioFormat.Encoding.PCM_SIGNED && f.getSampleSizeInBits() == 16;
            boolean float32 = f.getEncoding() == AudioFormat.Encoding.PCM_FLOAT && f.getSampleSizeInBits() == 32;
            if (!pcm16 && !float32) {
                throw new CheckpointException("the speaker prompt WAV " + file + " is " + f.getEncoding() + " "
                        + f.getSampleSizeInBits() + "-bit; 16-bit signed PCM or 32-bit float is needed" + convert);
            }
            byte[] bytes = in.readAllBytes();
            ByteBuffer b = ByteBuffer.wrap(bytes).order(f.isBigEndian() ? ByteOrder.BIG_ENDIAN : ByteOrder.LITTLE_ENDIAN);
            float[] wave = new float[bytes.length / (pcm16 ? 2 : 4)];
            for (int i = 0; i < wave.length; i++) {
                wave[i] = pcm16 ? b.getShort(2 * i) / 32768f : b.getFloat(4 * i);
            }
            return rate == SAMPLE_RATE ? wave : new SincResampler(rate, SAMPLE_RATE).apply(wave);
        } catch (UnsupportedAudioFileException e) {
            throw new CheckpointException("the speaker prompt WAV " + file + " is unreadable: not a WAV file javax.sound"
                    + " can read (" + e.getMessage() + ")", e);
        } catch (IOException e) {
            throw new CheckpointException("the speaker prompt WAV " + file + " is unreadable: " + e.getMessage(), e);
        }
    }
}
