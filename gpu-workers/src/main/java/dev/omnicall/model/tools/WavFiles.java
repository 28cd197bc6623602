package dev.omnicall.model.tools;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import javax.sound.sampled.AudioFormat;
import javax.sound.sampled.AudioInputStream;
import javax.sound.sampled.AudioSystem;
import javax.sound.sampled.UnsupportedAudioFileException;

/** 16 kHz mono 16-bit WAV in and out, through javax.sound.sampled. */
final class WavFiles {
    private WavFiles() {
    }

    static float[] read16k(Path file) throws IOException {
        try (AudioInputStream in = AudioSystem.getAudioInputStream(file.toFile())) {
            AudioFormat f = in.getFormat();
            if (f.getSampleRate() != 16000 || f.getChannels() != 1 || f.getSampleSizeInBits() != 16
                    || f.getEncoding() != AudioFormat.Encoding.PCM_SIGNED) {
                throw new IllegalArgumentException(file + " is " + f + "; convert it first with: sox IN -r 16000 -c 1 "
                        + "-b 16 -e signed-integer OUT.wav");
            }
            byte[] bytes = in.readAllBytes();
            ByteBuffer b = ByteBuffer.wrap(bytes).order(f.isBigEndian() ? ByteOrder.BIG_ENDIAN : ByteOrder.LITTLE_ENDIAN);
            float[] out = new float[bytes.length / 2];
            for (int i = 0; i < out.length; i++) {
                out[i] = b.getShort(2 * i) / 32768f;
            }
            return out;
        } catch (UnsupportedAudioFileException e) {
            throw new IllegalArgumentException(file + " is not a WAV file javax.sound can read", e);
        }
    }
}
