package dev.omnicall.model.tools;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import dev.omnicall.model.KvCache;
import dev.omnicall.model.LlamaModel;
import dev.omnicall.model.ModelOptions;
import dev.omnicall.model.Prompt;
import dev.omnicall.model.io.DType;
import dev.omnicall.model.io.SafeTensorsWriter;
import dev.omnicall.model.omni2.FlowMatching;
import dev.omnicall.model.omni2.HiftVocoder;
import dev.omnicall.model.omni2.Omni2Config;
import dev.omnicall.model.omni2.Omni2Model;
import dev.omnicall.model.omni2.TinyOmni2Writer;
import dev.omnicall.model.omni2.TtsSampling;
import dev.omnicall.model.omni2.TtsStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The LLaMA-Omni2 chain once on a WAV (16 kHz mono 16-bit), every stage's output in one safetensors file, so that
 * a reference outside the project can check each stage from the previous stage's tensor (issue 13 item 8):
 *
 * <pre>
 * java -cp ... dev.omnicall.model.tools.Omni2DumpStages [--checkpoint DIR] [--decoder DIR] [--wav FILE]
 *     [--out FILE] [--max-tokens N] [--final-cap N] [--padded-seconds S] [--device cpu|gpu:N]
 * </pre>
 * Without --checkpoint it writes and uses the tiny LLaMA-Omni2 checkpoint in .omnicall/tiny-omni2; without --wav
 * a synthetic 2 s signal. The text and units are the worker's (greedy LLM, the checkpoint's {@code stream_params},
 * greedy TTS over units + end); the flow and HiFT run over the whole reply at once (the reference's offline path,
 * {@code FlowMatching.mel} and {@code HiftVocoder.synthesize}), not streamed as the worker does.
 */
public final class Omni2DumpStages {
    /** The tensors written, in order (issue 13 item 8), and the TTS context's order ({@code tts_context_keys}). */
    public static final List<String> NAMES = List.of("log_mel", "encoder_out", "adaptor_out", "prompt_keys",
            "token_ids", "llm_hidden", "tts_input_embeds", "tts_context_keys", "unit_ids", "spk_embedding",
            "flow_noise", "flow_mu", "flow_mel", "hift_f0", "hift_source", "waveform_24k");

    private Omni2DumpStages() {
    }

    public static void main(String[] args) throws Exception {
        DumpStages.Args a = new DumpStages.Args(args);
        Path ckpt = a.has("--checkpoint") ? Path.of(a.get("--checkpoint"))
                : TinyOmni2Writer.writeIfAbsent(Path.of(".omnicall", "tiny-omni2").toAbsolutePath(), 1L);
        Path out = Path.of(a.get("--out", "omni2-stages.safetensors"));
        int maxTokens = Integer.parseInt(a.get("--max-tokens", "64"));
        int finalCap = Integer.parseInt(a.get("--final-cap", Integer.toString(Omni2Config.FINAL_TTS_CAP)));
        ModelOptions options = ModelOptions.defaults().withDevice(a.get("--device", "cpu"))
                .withPaddedSeconds(Double.parseDouble(a.get("--padded-seconds", "30")));
        float[] audio = a.has("--wav") ? WavFiles.read16k(Path.of(a.get("--wav"))) : Benchmarks.syntheticSpeech(2.0);
        try (Omni2Model model = a.has("--decoder") ? Omni2Model.load(ckpt, options, Path.of(a.get("--decoder")))
                : Omni2Model.load(ckpt, options)) {
            SafeTensorsWriter w = dump(model, audio, maxTokens, finalCap).metadata("checkpoint", ckpt.toString())
                    .metadata("padded_seconds", Double.toString(options.paddedSeconds()));
            w.write(out);
            System.out.printf("wrote %s (%d MiB): %s%n", out, w.dataBytes() >> 20, String.join(", ", NAMES));
        }
    }

    /** Runs every stage on {@code audio16k} and returns the writer holding {@link #NAMES}. */
    public static SafeTensorsWriter dump(Omni2Model model, float[] audio16k, int maxTokens, int finalCap) {
        SafeTensorsWriter w = new SafeTensorsWriter().metadata("stream_params",
                model.config().schedule(finalCap).toString()).metadata("tts", "greedy over units + end")
                .metadata("flow_hift", "whole reply at once");
        LlamaModel llm = model.llm();
        try (NDScope scope = new NDScope(); NDManager m = model.manager().newSubManager()) {
            scope.suppressNotUsedWarning();
            // log-mel, Whisper encoder, adaptor
            NDArray mel = model.frontend().forward(model.manager(), audio16k);
            put(w, "log_mel", mel);
            NDArray encoded = model.encoder().forward(mel);
            put(w, "encoder_out", encoded);
            NDArray speech = model.adaptor().forward(encoded);
            put(w, "adaptor_out", speech);
            // the prompt (negative keys: the speech rows), greedy text, each token's state handed to the TTS LM
            Prompt prompt = model.prompt(speech, List.of());
            w.putLongs("prompt_keys", new long[] {prompt.keys().length}, prompt.keys());
            List<Long> tokens = new ArrayList<>();
            NDList states = new NDList();
            List<Integer> units = new ArrayList<>();
            try (KvCache cache = llm.newCache(prompt.keys().length + maxTokens + 1L);
                    TtsStream tts = model.tts().newStream(model.config().schedule(finalCap), TtsSampling.greedy())) {
                LlamaModel.Output o = llm.forward(prompt.embeddings(), cache, prompt.keys());
                NDArray state = o.hidden().get(prompt.keys().length - 1);
                NDArray logits = o.lastLogits();
                while (true) {
                    long token = logits.argMax().toType(DataType.INT64, false).getLong();
                    boolean last = model.isStop(token) || tokens.size() + 1 >= maxTokens;
                    states.add(state);
                    tokens.add(token);
                    for (int u : tts.accept(state, token, last).units()) {
                        units.add(u);
                    }
                    if (last) {
                        break;
                    }
                    o = llm.forward(llm.embed(new long[] {token}), cache, new long[] {token});
                    state = o.hidden().get(0);
                    logits = o.lastLogits();
                }
                long[] context = tts.contextKeys().stream().mapToLong(Long::longValue).toArray();
                w.putLongs("tts_context_keys", new long[] {context.length}, context);
            }
            long[] ids = tokens.stream().mapToLong(Long::longValue).toArray();
            w.putLongs("token_ids", new long[] {ids.length}, ids);
            NDArray hidden = NDArrays.stack(states);
            put(w, "llm_hidden", hidden);
            // the fused rows, one per text token, in the order appended to the TTS context
            put(w, "tts_input_embeds", model.tts().fuse(hidden, ids));
            if (units.isEmpty()) {
                throw new IllegalStateException("the TTS LM wrote no units for " + ids.length + " text tokens "
                        + Arrays.toString(ids) + ": nothing for the flow");
            }
            // at most the flow noise's frames, as the worker cuts a reply
            FlowMatching flow = model.decoder().flow();
            int stride = flow.encoder().config().upStride();
            long[] unitIds = units.stream().limit(FlowMatching.MAX_FRAMES / stride).mapToLong(Integer::longValue)
                    .toArray();
            w.putLongs("unit_ids", new long[] {unitIds.length}, unitIds);
            float[] xvector = model.decoder().xvector();
            w.putFloats("spk_embedding", DType.F32, new long[] {xvector.length}, xvector);
            // flow: encoder mu, the fixed noise, 10 Euler steps with guidance
            long frames = (long) unitIds.length * stride;
            NDArray mu = flow.encoder().forward(m, unitIds);
            NDArray noise = flow.noise(m, 0, frames);
            NDArray flowMel = flow.solve(mu, flow.speaker(m, xvector), noise);
            put(w, "flow_noise", noise);
            put(w, "flow_mu", mu);
            put(w, "flow_mel", flowMel);
            // HiFT: f0, the sine source (pinned phases and noise), the decoder
            HiftVocoder hift = model.decoder().hift();
            NDArray f0 = hift.predictF0(flowMel);
            NDArray source = hift.source(f0, 0);
            put(w, "hift_f0", f0);
            put(w, "hift_source", source);
            put(w, "waveform_24k", hift.decode(flowMel, source));
            System.out.printf("omni2 stages: %d mel frames, %d speech rows, %d text tokens, %d units, %d flow frames,"
                    + " %.2f s at 24 kHz%n", mel.getShape().get(1), speech.getShape().get(0), ids.length,
                    unitIds.length, frames, frames * hift.config().samplesPerFrame() / (double) hift.sampleRate());
        }
        return w;
    }

    private static void put(SafeTensorsWriter w, String name, NDArray x) {
        w.putFloats(name, DType.F32, x.getShape().getShape(), x.toType(DataType.FLOAT32, false).toFloatArray());
    }
}
