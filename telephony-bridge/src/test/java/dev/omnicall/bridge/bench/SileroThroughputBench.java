package dev.omnicall.bridge.bench;

import dev.omnicall.bridge.codec.MuLaw;
import dev.omnicall.bridge.codec.Upsampler8To16;
import dev.omnicall.bridge.vad.EnergyGatedVad;
import dev.omnicall.bridge.vad.SileroModel;
import dev.omnicall.bridge.vad.SileroVad;
import dev.omnicall.bridge.vad.Vad;
import dev.omnicall.bridge.vad.VadFactory;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * What Silero costs per frame, the VAD alone: batched runs ({@link SileroModel#speechProbabilities}) of B calls
 * hearing {@link MediaLoadBenchmark}'s caller audio (through μ-law and the 8→16 kHz upsampler, as the bridge hears
 * it), at 16 kHz and at 8 kHz, measured in CPU time of the running thread (not wall time: the box is shared, and a
 * thread waiting for a core costs nothing here). The configurations take turns, round after round, so a change in
 * the box's load hits all of them; the line reports each one's median and the 16/8 kHz ratio. Also: how many of the
 * audio's frames the energy gate keeps from the model.
 *
 * <pre>
 * java -Domnicall.vad.silero-model=telephony-bridge/target/silero-vad/silero_vad.onnx \
 *     -cp telephony-bridge/target/test-classes:telephony-bridge/target/classes:$(cat /tmp/h17-cp.txt) \
 *     dev.omnicall.bridge.bench.SileroThroughputBench [rounds=5] [batches=1,64,512] [seconds per measure=1]
 * </pre>
 */
public final class SileroThroughputBench {
    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

    public static void main(String[] args) throws Exception {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 5;
        int[] batches = args.length > 1 ? Arrays.stream(args[1].split(",")).mapToInt(Integer::parseInt).toArray()
                : new int[] {1, 64, 512};
        double seconds = args.length > 2 ? Double.parseDouble(args[2]) : 1.0;
        java.nio.file.Path path = VadFactory.locateModel().orElseThrow(() -> new IllegalStateException(
                "silero_vad.onnx not found: -D" + VadFactory.MODEL_PROPERTY + "=..."));
        short[][] frames = callerFrames();

        // the energy gate on this audio (what the media path skips before any batch)
        try (SileroModel m = SileroModel.load(path)) {
            EnergyGatedVad gate = new EnergyGatedVad(m.newVad(), EnergyGatedVad.DEFAULT_GATE_DBFS);
            int warmUp = 0;
            for (short[] f : frames) {
                if (Float.isNaN(gate.gate(f))) {
                    warmUp += gate.takeWarmUp().length;
                    gate.modelAnswered(f, m.speechProbabilities(new SileroVad[] {gate.silero()}, new short[][] {f})[0]);
                }
            }
            System.out.printf(Locale.ROOT, "caller audio: %d frames; the gate at %.0f dBFS skips %d (%.1f %%) and"
                            + " replays %d skipped frames at onsets: the model runs %.1f %% of the frames%n", frames.length,
                    EnergyGatedVad.DEFAULT_GATE_DBFS, gate.skipped(), 100.0 * gate.skipped() / frames.length, warmUp,
                    100.0 * (frames.length - gate.skipped() + warmUp) / frames.length);
        }

        // what each packet costs before the VAD: μ-law decode and the 8→16 kHz FIR (50,000 packets/s at 1000 calls)
        byte[] packet = MuLaw.INSTANCE.encode(Arrays.copyOf(frames[frames.length / 3], 160));
        Upsampler8To16 up = new Upsampler8To16();
        long sink = 0;
        for (int i = 0; i < 20_000; i++) {
            sink += up.process(MuLaw.INSTANCE.decode(packet))[i % 320];
        }
        long cpu0 = THREADS.getCurrentThreadCpuTime();
        int packets = 200_000;
        for (int i = 0; i < packets; i++) {
            sink += up.process(MuLaw.INSTANCE.decode(packet))[i % 320];
        }
        double packetUs = (THREADS.getCurrentThreadCpuTime() - cpu0) / 1e3 / packets;
        System.out.printf(Locale.ROOT, "per 20 ms packet: decode + 8->16 kHz upsampling %.2f us CPU (%d)%n", packetUs,
                sink & 1);

        int[] rates = {SileroModel.RATE_16K, SileroModel.RATE_8K};
        SileroModel[] models = {SileroModel.load(path, rates[0]), SileroModel.load(path, rates[1])};
        List<List<Double>> cpu = new ArrayList<>();
        for (int i = 0; i < rates.length * batches.length; i++) {
            cpu.add(new ArrayList<>());
        }
        for (int round = 0; round < rounds; round++) {
            for (int bi = 0; bi < batches.length; bi++) {
                for (int ri = 0; ri < rates.length; ri++) {
                    double us = cpuMicrosPerFrame(models[ri], batches[bi], frames, seconds);
                    cpu.get(bi * rates.length + ri).add(us);
                    System.out.printf(Locale.ROOT, "round %d B=%d %d Hz: %.1f us CPU per frame%n", round, batches[bi],
                            rates[ri], us);
                }
            }
        }
        StringBuilder line = new StringBuilder("bench=silero-throughput rounds=" + rounds
                + String.format(Locale.ROOT, " packet_decode_upsample_us=%.2f", packetUs));
        for (int bi = 0; bi < batches.length; bi++) {
            double wide = median(cpu.get(bi * rates.length));
            double narrow = median(cpu.get(bi * rates.length + 1));
            line.append(String.format(Locale.ROOT, " b%d_16k_us=%.1f b%d_8k_us=%.1f b%d_ratio=%.2f", batches[bi], wide,
                    batches[bi], narrow, batches[bi], wide / narrow));
        }
        line.append(String.format(Locale.ROOT, " load=%.1f",
                ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage()));
        System.out.println(line);
        for (SileroModel m : models) {
            m.close();
        }
    }

    /** B calls, each hearing the caller audio from its own offset, batched frame after frame for about {@code seconds}. */
    private static double cpuMicrosPerFrame(SileroModel model, int b, short[][] frames, double seconds) throws Exception {
        SileroVad[] vads = new SileroVad[b];
        for (int i = 0; i < b; i++) {
            vads[i] = model.newVad();
        }
        short[][] due = new short[b][];
        long frameCount = 0;
        long cpu0 = THREADS.getCurrentThreadCpuTime();
        long wall0 = System.nanoTime();
        for (int k = 0; System.nanoTime() - wall0 < seconds * 1e9 || k < 3; k++) {
            for (int i = 0; i < b; i++) {
                due[i] = frames[(k + 7 * i) % frames.length];
            }
            model.speechProbabilities(vads, due);
            frameCount += b;
        }
        return (THREADS.getCurrentThreadCpuTime() - cpu0) / 1e3 / frameCount;
    }

    /** The load benchmark's caller audio as the bridge hears it: 20 ms μ-law packets, upsampled, 512-sample frames. */
    static short[][] callerFrames() {
        short[] speech = MediaLoadBenchmark.speech8k();
        Upsampler8To16 up = new Upsampler8To16();
        List<short[]> out = new ArrayList<>();
        short[] frame = new short[Vad.FRAME_SAMPLES];
        int fill = 0;
        for (int at = 0; at + 160 <= speech.length; at += 160) {
            short[] packet = Arrays.copyOfRange(speech, at, at + 160);
            for (short s : up.process(MuLaw.INSTANCE.decode(MuLaw.INSTANCE.encode(packet)))) {
                frame[fill++] = s;
                if (fill == frame.length) {
                    out.add(frame);
                    frame = new short[Vad.FRAME_SAMPLES];
                    fill = 0;
                }
            }
        }
        return out.toArray(new short[0][]);
    }

    private static double median(List<Double> xs) {
        double[] s = xs.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }
}
