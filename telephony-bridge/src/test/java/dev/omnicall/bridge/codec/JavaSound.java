package dev.omnicall.bridge.codec;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import javax.sound.sampled.AudioFormat;
import javax.sound.sampled.AudioInputStream;
import javax.sound.sampled.AudioSystem;

/** The JDK's own G.711 converters, the independent reference for our tables. */
final class JavaSound {
    private JavaSound() {
    }

    static AudioFormat pcm() {
        return new AudioFormat(AudioFormat.Encoding.PCM_SIGNED, 8000, 16, 1, 2, 8000, false);
    }

    static AudioFormat g711(AudioFormat.Encoding encoding) {
        return new AudioFormat(encoding, 8000, 8, 1, 1, 8000, false);
    }

    static byte[] encode(short[] pcm, AudioFormat.Encoding encoding) throws IOException {
        byte[] le = new byte[pcm.length * 2];
        for (int i = 0; i < pcm.length; i++) {
            le[2 * i] = (byte) pcm[i];
            le[2 * i + 1] = (byte) (pcm[i] >> 8);
        }
        try (AudioInputStream in = new AudioInputStream(new ByteArrayInputStream(le), pcm(), pcm.length);
             AudioInputStream out = AudioSystem.getAudioInputStream(encoding, in)) {
            return out.readAllBytes();
        }
    }

    static short[] decode(byte[] codes, AudioFormat.Encoding encoding) throws IOException {
        try (AudioInputStream in = new AudioInputStream(new ByteArrayInputStream(codes), g711(encoding), codes.length);
             AudioInputStream out = AudioSystem.getAudioInputStream(pcm(), in)) {
            byte[] le = out.readAllBytes();
            short[] pcm = new short[le.length / 2];
            for (int i = 0; i < pcm.length; i++) {
                pcm[i] = (short) ((le[2 * i] & 0xFF) | (le[2 * i + 1] << 8));
            }
            return pcm;
        }
    }

    static short[] everySample() {
        short[] all = new short[65536];
        for (int i = 0; i < all.length; i++) {
            all[i] = (short) (i + Short.MIN_VALUE);
        }
        return all;
    }

    static byte[] everyCode() {
        byte[] codes = new byte[256];
        for (int i = 0; i < 256; i++) {
            codes[i] = (byte) i;
        }
        return codes;
    }
}
