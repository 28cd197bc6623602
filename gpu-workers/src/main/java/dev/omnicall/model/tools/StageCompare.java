package dev.omnicall.model.tools;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import dev.omnicall.model.Prompt;
import dev.omnicall.model.omni.CtcUnitDecoder;
import dev.omnicall.model.KvCache;
import dev.omnicall.model.LlamaModel;
import dev.omnicall.model.omni.OmniModel;
import dev.omnicall.model.omni.UnitVocoder;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The chain stage by stage on two loads of one checkpoint (the reference: CPU, float32; the target: a GPU in
 * float16, or the CPU in float16 for the smoke run) and how far apart they are. The target runs teacher-forced on
 * the reference's tokens and vocodes the reference's units, so every stage is compared position by position even
 * where one greedy choice differs; the choices themselves are compared separately.
 *
 * <p>Tolerances, as max |target − reference| over max |reference| of the stage ({@link #TOLERANCES}): log-mel 1e-3
 * (float32 in both: the frontend does not run in the compute type), encoder output 2e-2, adaptor output 3e-2, LLM
 * states and logits 5e-2, CTC logits 5e-2 (float16 carries ~3 decimal digits; errors grow with depth: 2-3 layers
 * here, 32 in Whisper large-v3 and Llama-3.1-8B), waveform 2e-2 (the vocoder runs in float32 on both devices; a
 * GPU's TF32 convolutions and the float16 units' durations are what differs). Discrete outputs: every greedy token
 * and every CTC frame label must equal the reference's unless the reference's top two logits there are closer than
 * the stage's tolerance times its scale (a near tie, counted and allowed); the vocoder's durations for the same units
 * must be equal in at least 95 % of units.
 */
public final class StageCompare {
    /** Per continuous stage: the largest allowed max |Δ| / max |reference|. */
    public static final Map<String, Double> TOLERANCES = tolerances();

    private StageCompare() {
    }

    private static Map<String, Double> tolerances() {
        Map<String, Double> t = new LinkedHashMap<>();
        t.put("log_mel", 1e-3);
        t.put("encoder_out", 2e-2);
        t.put("adaptor_out", 3e-2);
        t.put("llm_states", 5e-2);
        t.put("llm_logits", 5e-2);
        t.put("ctc_logits", 5e-2);
        t.put("waveform", 2e-2);
        return t;
    }

    /** A stage's values as float32 and its shape. */
    public record Tensor(long[] shape, float[] data) {
        static Tensor of(NDArray x) {
            return new Tensor(x.getShape().getShape(), x.toType(DataType.FLOAT32, false).toFloatArray());
        }

        long rowLength() {
            return shape.length == 1 ? 1 : data.length / shape[0];
        }
    }

    /**
     * One run of the chain: the continuous stages by name, the greedy token chosen at each position (from that
     * run's own logits), the tokens fed back (its own, or the forced ones), the CTC frame labels, units, durations.
     */
    public record Stages(Map<String, Tensor> tensors, long[] chosen, long[] fed, long[] ctcLabels, int[] units,
            int[] durations) {
    }

    /**
     * Runs log-mel → encoder → adaptor → prompt + prefill → greedy decoding (or teacher-forced on {@code forced},
     * nullable) → CTC decoder over all states → vocoder (on {@code vocoderUnits} when given, else its own units;
     * the waveform with {@code vocoderDurations} when given, the durations reported are always the run's own).
     */
    public static Stages run(OmniModel model, float[] audio, int maxTokens, long[] forced, int[] vocoderUnits,
            int[] vocoderDurations) {
        Map<String, Tensor> t = new LinkedHashMap<>();
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            // log-mel, encoder, adaptor
            NDArray mel = model.frontend().forward(model.manager(), audio);
            t.put("log_mel", Tensor.of(mel));
            NDArray encoded = model.encoder().forward(mel);
            t.put("encoder_out", Tensor.of(encoded));
            NDArray speech = model.adaptor().forward(encoded);
            t.put("adaptor_out", Tensor.of(speech));
            // prompt, prefill, then one token at a time
            Prompt prompt = model.prompt(speech, List.of(), -1);
            LlamaModel llm = model.llm();
            int limit = forced == null ? maxTokens : forced.length;
            List<Long> chosen = new ArrayList<>();
            List<Long> fed = new ArrayList<>();
            NDList states = new NDList();
            NDList logits = new NDList();
            try (KvCache cache = llm.newCache(prompt.keys().length + limit + 1L)) {
                LlamaModel.Output o = llm.forward(prompt.embeddings(), cache, prompt.keys());
                NDArray state = o.hidden().get(prompt.keys().length - 1);
                NDArray row = o.lastLogits();
                while (true) {
                    long own = row.argMax().getLong();
                    long token = forced == null ? own : forced[fed.size()];
                    states.add(state);
                    logits.add(row);
                    chosen.add(own);
                    fed.add(token);
                    if (fed.size() >= limit || (forced == null && model.isEos(token))) {
                        break;
                    }
                    LlamaModel.Output step = llm.decodeBatch(new long[] {token}, List.of(cache));
                    state = step.hidden().get(0);
                    row = step.lastLogits().get(0);
                }
            }
            NDArray hidden = NDArrays.stack(states);
            t.put("llm_states", Tensor.of(hidden));
            t.put("llm_logits", Tensor.of(NDArrays.stack(logits)));
            // CTC decoder over all states
            CtcUnitDecoder.Offline ctc = model.ctc().offline(hidden);
            t.put("ctc_logits", Tensor.of(ctc.logits()));
            // vocoder
            int[] units = vocoderUnits == null ? ctc.units() : vocoderUnits;
            UnitVocoder.Synthesis syn = model.vocoder().synthesize(units);
            float[] wave = vocoderDurations == null ? syn.audio()
                    : model.vocoder().synthesize(units, vocoderDurations).audio();
            t.put("waveform", new Tensor(new long[] {wave.length}, wave));
            return new Stages(t, toArray(chosen), toArray(fed), ctc.labels(), ctc.units(), syn.durations());
        }
    }

    /** One stage's comparison. */
    public record Row(String stage, String measure, double value, double bound, boolean ok, String note) {
        String format() {
            return String.format(Locale.ROOT, "  %-12s %-26s %10.3g  (bound %s)  %s%s", stage, measure, value,
                    bound < 0 ? "-" : String.format(Locale.ROOT, "%.3g", bound), ok ? "ok" : "FAIL",
                    note.isEmpty() ? "" : "  " + note);
        }
    }

    /** Every stage of target against reference (the target having run on the reference's tokens and units). */
    public static List<Row> compare(Stages ref, Stages target) {
        List<Row> rows = new ArrayList<>();
        for (Map.Entry<String, Double> e : TOLERANCES.entrySet()) {
            Tensor a = ref.tensors().get(e.getKey());
            Tensor b = target.tensors().get(e.getKey());
            if (a.data().length != b.data().length) {
                rows.add(new Row(e.getKey(), "shape", a.data().length, b.data().length, false,
                        "shapes " + java.util.Arrays.toString(a.shape()) + " vs " + java.util.Arrays.toString(b.shape())));
                continue;
            }
            double scale = maxAbs(a.data());
            double diff = maxAbsDiff(a.data(), b.data());
            double rel = scale == 0 ? diff : diff / scale;
            rows.add(new Row(e.getKey(), "max|d|/max|ref|", rel, e.getValue(), rel <= e.getValue(),
                    String.format(Locale.ROOT, "(max|d| %.3g, scale %.3g)", diff, scale)));
        }
        rows.add(choices("tokens", ref.fed(), target.chosen(), ref.tensors().get("llm_logits"),
                TOLERANCES.get("llm_logits")));
        rows.add(choices("ctc_labels", ref.ctcLabels(), longs(argmaxRows(target.tensors().get("ctc_logits"))),
                ref.tensors().get("ctc_logits"), TOLERANCES.get("ctc_logits")));
        int[] d1 = ref.durations();
        int[] d2 = target.durations();
        int same = 0;
        for (int i = 0; i < Math.min(d1.length, d2.length); i++) {
            same += d1[i] == d2[i] ? 1 : 0;
        }
        double share = d1.length == 0 ? 1 : same / (double) Math.max(d1.length, d2.length);
        rows.add(new Row("durations", "share equal", share, 0.95, share >= 0.95 && d1.length == d2.length,
                same + "/" + d1.length + " units"));
        return rows;
    }

    /**
     * Discrete choices: position i's target choice must equal the reference's unless the reference's top-2 logits
     * there are within tolerance × scale of each other (a near tie).
     */
    private static Row choices(String stage, long[] reference, long[] target, Tensor refLogits, double tolerance) {
        double scale = maxAbs(refLogits.data());
        int n = Math.min(reference.length, target.length);
        int differ = 0;
        int ties = 0;
        int width = (int) refLogits.rowLength();
        for (int i = 0; i < n; i++) {
            if (reference[i] == target[i]) {
                continue;
            }
            float best = Float.NEGATIVE_INFINITY;
            float second = Float.NEGATIVE_INFINITY;
            for (int j = 0; j < width; j++) {
                float v = refLogits.data()[i * width + j];
                if (v > best) {
                    second = best;
                    best = v;
                } else if (v > second) {
                    second = v;
                }
            }
            if (best - second < tolerance * scale) {
                ties++;
            } else {
                differ++;
            }
        }
        boolean ok = differ == 0 && reference.length == target.length;
        return new Row(stage, "differ (not near ties)", differ, 0, ok,
                String.format(Locale.ROOT, "%d positions, %d near ties", n, ties));
    }

    private static int[] argmaxRows(Tensor t) {
        int width = (int) t.rowLength();
        int rows = t.data().length / width;
        int[] out = new int[rows];
        for (int i = 0; i < rows; i++) {
            int best = 0;
            for (int j = 1; j < width; j++) {
                if (t.data()[i * width + j] > t.data()[i * width + best]) {
                    best = j;
                }
            }
            out[i] = best;
        }
        return out;
    }

    private static long[] longs(int[] v) {
        return java.util.Arrays.stream(v).asLongStream().toArray();
    }

    private static long[] toArray(List<Long> v) {
        return v.stream().mapToLong(Long::longValue).toArray();
    }

    static double maxAbs(float[] v) {
        double m = 0;
        for (float x : v) {
            m = Math.max(m, Math.abs(x));
        }
        return m;
    }

    static double maxAbsDiff(float[] a, float[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs((double) a[i] - b[i]));
        }
        return m;
    }
}
