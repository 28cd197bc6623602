package dev.omnicall.model.omni2;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;

/**
 * The short-time Fourier transform pair HiFT uses, with torch.stft / torch.istft's conventions: periodic
 * Hann window of nFft samples, centred frames (nFft/2 reflect padding each side), one-sided spectrum,
 * no normalisation; the inverse divides the overlap-add by the summed squared window and drops the
 * centring pad, so a signal of (F − 1)·hop samples comes back from F frames.
 *
 * <p>Both are small dense matmuls (nFft is 16 in HiFT, so a DFT matrix beats an FFT): frames [F, nFft]
 * times [nFft, nFft + 2] give the real parts of bins 0..nFft/2 then the imaginary parts; the inverse
 * multiplies by the real inverse DFT (the imaginary parts of DC and Nyquist drop out, as in irfft).
 * Frames are cut without a gather: with nFft = r·hop, frame t is rows t..t+r−1 of the signal seen as
 * [hop]-long rows.
 */
final class Stft {
    private final int nFft;
    private final int hop;
    private final int bins;
    private final float[] window; // [nFft] periodic Hann
    private final NDArray analysis; // [nFft, 2*bins]: w[n]cos(2πkn/N) | −w[n]sin(2πkn/N)
    private final NDArray synthesis; // [2*bins, nFft]: c_k cos(2πkn/N)/N·w[n] | −c_k sin(2πkn/N)/N·w[n]

    Stft(NDManager manager, int nFft, int hop) {
        if (nFft % hop != 0 || nFft % 2 != 0) {
            throw new IllegalArgumentException("nFft " + nFft + " must be even and a multiple of hop " + hop);
        }
        this.nFft = nFft;
        this.hop = hop;
        this.bins = nFft / 2 + 1;
        window = new float[nFft];
        for (int n = 0; n < nFft; n++) {
            window[n] = (float) (0.5 - 0.5 * Math.cos(2 * Math.PI * n / nFft));
        }
        float[] a = new float[nFft * 2 * bins];
        float[] s = new float[2 * bins * nFft];
        for (int k = 0; k < bins; k++) {
            double c = (k == 0 || 2 * k == nFft) ? 1 : 2;
            for (int n = 0; n < nFft; n++) {
                double angle = 2 * Math.PI * ((long) k * n % nFft) / nFft;
                a[n * 2 * bins + k] = (float) (window[n] * Math.cos(angle));
                a[n * 2 * bins + bins + k] = (float) (-window[n] * Math.sin(angle));
                s[k * nFft + n] = (float) (c * Math.cos(angle) / nFft * window[n]);
                s[(bins + k) * nFft + n] = (float) (-c * Math.sin(angle) / nFft * window[n]);
            }
        }
        analysis = manager.create(a, new Shape(nFft, 2L * bins));
        synthesis = manager.create(s, new Shape(2L * bins, nFft));
    }

    int hop() {
        return hop;
    }

    int bins() {
        return bins;
    }

    /** Frames of a signal of the given length: 1 + length / hop. */
    long frames(long length) {
        return 1 + length / hop;
    }

    /** x [L] → [2·bins, 1 + L/hop]: real parts of bins 0..nFft/2, then their imaginary parts. */
    NDArray forward(NDArray x) {
        long length = x.getShape().get(0);
        int pad = nFft / 2;
        if (length <= pad) {
            throw new IllegalArgumentException("STFT input of " + length + " samples is too short for reflect "
                    + "padding of " + pad);
        }
        // centre: reflect-pad nFft/2 each side (the edge sample is not repeated)
        NDArray left = x.get(new NDIndex("1:{}", pad + 1)).flip(0);
        NDArray right = x.get(new NDIndex("{}:{}", length - 1 - pad, length - 1)).flip(0);
        NDArray padded = NDArrays.concat(new NDList(left, x, right));
        long frames = frames(length);
        int r = nFft / hop;
        // the signal as [hop]-long rows; frame t = rows t..t+r-1 side by side
        NDArray rows = padded.get(new NDIndex(":{}", (frames - 1 + r) * hop)).reshape(frames - 1 + r, hop);
        NDList parts = new NDList(r);
        for (int m = 0; m < r; m++) {
            parts.add(rows.get(new NDIndex("{}:{}", m, m + frames)));
        }
        NDArray framed = NDArrays.concat(parts, 1); // [F, nFft]
        return framed.matMul(analysis).transpose(); // [2*bins, F]
    }

    /** magnitude, phase [bins, F] → (F − 1)·hop samples: inverse DFT, window, overlap-add, ÷ Σ window². */
    NDArray inverse(NDArray magnitude, NDArray phase) {
        long frames = magnitude.getShape().get(1);
        NDArray spectrum = magnitude.mul(phase.cos()).concat(magnitude.mul(phase.sin()), 0); // [2*bins, F]
        NDArray framed = spectrum.transpose().matMul(synthesis); // [F, nFft], windowed
        int r = nFft / hop;
        NDManager m = framed.getManager();
        // overlap-add: block j of frame t lands on output block t + j
        NDArray sum = null;
        for (int j = 0; j < r; j++) {
            NDArray block = framed.get(new NDIndex(":, {}:{}", j * hop, (j + 1) * hop));
            NDList rows = new NDList();
            if (j > 0) {
                rows.add(m.zeros(new Shape(j, hop), block.getDataType(), block.getDevice()));
            }
            rows.add(block);
            if (r - 1 - j > 0) {
                rows.add(m.zeros(new Shape(r - 1 - j, hop), block.getDataType(), block.getDevice()));
            }
            NDArray shifted = NDArrays.concat(rows, 0);
            sum = sum == null ? shifted : sum.add(shifted);
        }
        long total = (frames - 1 + r) * hop;
        int pad = nFft / 2;
        long length = total - nFft;
        float[] envelope = new float[(int) length];
        for (long t = 0; t < frames; t++) {
            for (int n = 0; n < nFft; n++) {
                long at = t * hop + n - pad;
                if (at >= 0 && at < length) {
                    envelope[(int) at] += window[n] * window[n];
                }
            }
        }
        for (int i = 0; i < envelope.length; i++) {
            if (envelope[i] <= 1e-11f) {
                throw new IllegalStateException("window envelope is zero at sample " + i + ": iSTFT not invertible");
            }
        }
        NDArray env = m.create(envelope).toDevice(framed.getDevice(), false);
        return sum.reshape(total).get(new NDIndex("{}:{}", pad, pad + length)).div(env);
    }

    /**
     * {@link #forward} for rows of different lengths: x [B, L] right-padded, row r's first {@code lengths[r]} samples
     * its signal → [B, 2·bins, 1 + L/hop], row r's first 1 + lengths[r]/hop frames as alone, the rest zeros. Each
     * row's reflect padding is its own (one gather with indices made here), so the padding never enters a real frame.
     */
    NDArray forwardAll(NDArray x, int[] lengths) {
        int b = lengths.length;
        long width = x.getShape().get(1);
        int pad = nFft / 2;
        int r = nFft / hop;
        long frames = frames(width);
        int padded = (int) ((frames - 1 + r) * hop);
        long[] index = new long[b * padded];
        float[] valid = new float[(int) (b * frames)];
        for (int row = 0; row < b; row++) {
            int length = lengths[row];
            if (length <= pad) {
                throw new IllegalArgumentException("STFT input of " + length + " samples is too short for reflect "
                        + "padding of " + pad);
            }
            int own = length + 2 * pad; // this row's centred signal: reflect | x | reflect
            for (int k = 0; k < padded; k++) {
                int at = k - pad;
                long source = k >= own ? 0 : at < 0 ? -at : at >= length ? 2L * (length - 1) - at : at;
                index[row * padded + k] = row * width + source;
            }
            for (long f = 0; f < frames(length); f++) {
                valid[(int) (row * frames + f)] = 1f;
            }
        }
        NDManager m = x.getManager();
        NDArray centred = x.reshape(-1).get(new NDIndex("{}", m.create(index))).reshape(b, frames - 1 + r, hop);
        NDList parts = new NDList(r);
        for (int j = 0; j < r; j++) {
            parts.add(centred.get(new NDIndex(":, {}:{}", j, j + frames)));
        }
        NDArray framed = NDArrays.concat(parts, 2); // [B, F, nFft]
        return framed.matMul(analysis).transpose(0, 2, 1).mul(m.create(valid, new Shape(b, 1, frames)));
    }

    /**
     * {@link #inverse} for rows of different frame counts: magnitude, phase [B, bins, F], row r's first
     * {@code frames[r]} frames its own (the magnitude must be zero after them) → [B, (F − 1)·hop], row r's first
     * (frames[r] − 1)·hop samples as alone; each row divided by its own window envelope.
     */
    NDArray inverseAll(NDArray magnitude, NDArray phase, int[] frames) {
        int b = frames.length;
        long width = magnitude.getShape().get(2);
        NDArray spectrum = magnitude.mul(phase.cos()).concat(magnitude.mul(phase.sin()), 1); // [B, 2*bins, F]
        NDArray framed = spectrum.transpose(0, 2, 1).matMul(synthesis); // [B, F, nFft], windowed
        int r = nFft / hop;
        NDManager m = framed.getManager();
        // overlap-add: block j of frame t lands on output block t + j
        NDArray sum = null;
        for (int j = 0; j < r; j++) {
            NDArray block = framed.get(new NDIndex(":, :, {}:{}", j * hop, (j + 1) * hop));
            NDList rows = new NDList();
            if (j > 0) {
                rows.add(m.zeros(new Shape(b, j, hop), block.getDataType(), block.getDevice()));
            }
            rows.add(block);
            if (r - 1 - j > 0) {
                rows.add(m.zeros(new Shape(b, r - 1 - j, hop), block.getDataType(), block.getDevice()));
            }
            NDArray shifted = NDArrays.concat(rows, 1);
            sum = sum == null ? shifted : sum.add(shifted);
        }
        long total = (width - 1 + r) * hop;
        int pad = nFft / 2;
        int length = (int) (total - nFft);
        // each row's envelope from its own frames; 1 past its end (padding, dropped by the caller)
        float[] envelope = new float[b * length];
        for (int row = 0; row < b; row++) {
            int own = (frames[row] - 1) * hop;
            for (long t = 0; t < frames[row]; t++) {
                for (int n = 0; n < nFft; n++) {
                    long at = t * hop + n - pad;
                    if (at >= 0 && at < own) {
                        envelope[row * length + (int) at] += window[n] * window[n];
                    }
                }
            }
            for (int i = 0; i < length; i++) {
                if (i >= own) {
                    envelope[row * length + i] = 1f;
                } else if (envelope[row * length + i] <= 1e-11f) {
                    throw new IllegalStateException("window envelope is zero at sample " + i + ": iSTFT not invertible");
                }
            }
        }
        NDArray env = m.create(envelope, new Shape(b, length)).toDevice(framed.getDevice(), false);
        return sum.reshape(b, total).get(new NDIndex(":, {}:{}", pad, pad + length)).div(env);
    }
}
