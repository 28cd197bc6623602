package dev.omnicall.model.stream;

/**
 * One chunk of reply audio: mono signed 16-bit PCM at {@code sampleRate}, the number of new units it
 * voices, its 0-based sequence number within the turn, whether it is the turn's last chunk, and
 * {@code textChars}: the length of the turn's reply text (the concatenated text pieces) whose speech is
 * complete at the end of this chunk (-1 unknown). The units of a chunk cut at step s come from the LLM states
 * that predicted tokens up to s, so the chunk covers the text emitted up to step s (the 20 ms seam tail of the
 * last token's speech is held back into the next chunk: an approximation); the last chunk covers all of it.
 */
public record AudioPiece(short[] pcm, int sampleRate, int unitCount, int seq, boolean last, int textChars) {

    public AudioPiece(short[] pcm, int sampleRate, int unitCount, int seq, boolean last) {
        this(pcm, sampleRate, unitCount, seq, last, -1);
    }

    /** The same chunk covering {@code chars} of the reply text (a family's turn loop counts them when it cuts one). */
    public AudioPiece withTextChars(int chars) {
        return new AudioPiece(pcm, sampleRate, unitCount, seq, last, chars);
    }

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
