package dev.omnicall.model.stream;

/**
 * One chunk of reply audio: mono signed 16-bit PCM at {@code sampleRate}, the number of new units it
 * voices, its 0-based sequence number within the turn, and whether it is the turn's last chunk.
 */
public record AudioPiece(short[] pcm, int sampleRate, int unitCount, int seq, boolean last) {

    /** Little-endian bytes, as AudioChunk.pcm carries them. */
    public byte[] pcmBytes() {
        byte[] out = new byte[pcm.length * 2];
        for (int i = 0; i < pcm.length; i++) {
            out[2 * i] = (byte) pcm[i];
            out[2 * i + 1] = (byte) (pcm[i] >> 8);
        }
        return out;
    }
}
