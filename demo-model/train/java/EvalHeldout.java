import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;
import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.omnicall.model.HistoryTurn;
import dev.omnicall.model.KvCache;
import dev.omnicall.model.LengthPenalty;
import dev.omnicall.model.LlamaModel;
import dev.omnicall.model.ModelOptions;
import dev.omnicall.model.Prompt;
import dev.omnicall.model.Transcriber;
import dev.omnicall.model.Transcription;
import dev.omnicall.model.omni.OmniModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The demo trainer's held-out check through the Java runtime: loads the checkpoint once (as the worker does,
 * natural-length encoder input), and for every WAV runs log-mel, encoder, adaptor, the llama_3 prompt (with
 * the given history), greedy decoding to EOS, and the caller transcriber on the same encoder output.
 *
 * <pre>java -cp ... EvalHeldout CHECKPOINT_DIR in.json out.json</pre>
 * in.json: [{"wav": path, "history": [[user, assistant], ...]}, ...]; out.json: [{"reply", "tokens", "transcript"}].
 * The caller transcript searches DEMO_TRANSCRIBE_BEAMS hypotheses (default 5; 1 = greedy), the finished ones ranked by
 * DEMO_TRANSCRIBE_LENGTH_PENALTY (per-token, whisper's default, or whisper's length_penalty as a number).
 */
public final class EvalHeldout {
    public static void main(String[] args) throws Exception {
        Gson gson = new GsonBuilder().disableHtmlEscaping().create();
        JsonArray in = gson.fromJson(Files.readString(Path.of(args[1])), JsonArray.class);
        JsonArray out = new JsonArray();
        ModelOptions options = ModelOptions.defaults().withDevice("cpu").withPaddedSeconds(0);
        // the caller text's beam search, as the app's omnicall.worker.transcribe.beams (default 5; 1 = greedy)
        int beams = Integer.parseInt(System.getenv().getOrDefault("DEMO_TRANSCRIBE_BEAMS", "5"));
        // and its ranking of finished hypotheses, as omnicall.worker.transcribe.length-penalty
        LengthPenalty lengthPenalty = LengthPenalty.parse(
                System.getenv().getOrDefault("DEMO_TRANSCRIBE_LENGTH_PENALTY", "per-token"));
        try (OmniModel model = OmniModel.load(Path.of(args[0]), options)) {
            Transcriber transcriber = model.transcriber().orElse(null);
            LlamaModel llm = model.llm();
            for (JsonElement e : in) {
                JsonObject item = e.getAsJsonObject();
                List<HistoryTurn> history = new ArrayList<>();
                if (item.has("history")) {
                    for (JsonElement t : item.getAsJsonArray("history")) {
                        JsonArray p = t.getAsJsonArray();
                        history.add(new HistoryTurn(p.get(0).isJsonNull() ? null : p.get(0).getAsString(),
                                p.get(1).getAsString()));
                    }
                }
                float[] audio = read16k(Path.of(item.get("wav").getAsString()));
                JsonObject r = new JsonObject();
                try (NDScope scope = new NDScope()) {
                    NDArray encoded = model.encodeAudio(audio);
                    NDArray speech = model.adapt(encoded);
                    Prompt prompt = model.prompt(speech, history, -1);
                    List<Long> tokens = new ArrayList<>();
                    try (KvCache cache = llm.newCache(prompt.keys().length + 65L)) {
                        LlamaModel.Output o = llm.forward(prompt.embeddings(), cache, prompt.keys());
                        long token = o.lastLogits().argMax().getLong();
                        while (true) {
                            tokens.add(token);
                            if (model.isEos(token) || tokens.size() >= 64) {
                                break;
                            }
                            token = llm.decodeBatch(new long[] {token}, List.of(cache)).lastLogits().get(0).argMax()
                                    .getLong();
                        }
                    }
                    long[] ids = tokens.stream().mapToLong(Long::longValue).toArray();
                    r.addProperty("reply", model.tokenizer().decode(ids));
                    r.add("tokens", gson.toJsonTree(ids));
                    if (transcriber != null) {
                        try (Transcription t = transcriber.start(encoded, "en", 48, beams, lengthPenalty)) {
                            while (!t.step()) {
                                // one token per step until end of text or the cap
                            }
                            r.addProperty("transcript", t.text());
                        }
                    }
                }
                out.add(r);
            }
        }
        Files.writeString(Path.of(args[2]), gson.toJson(out));
    }

    /** 16 kHz mono 16-bit PCM WAV -> [-1, 1] (sample / 32768, as the runtime's WavFiles). */
    static float[] read16k(Path wav) throws Exception {
        try (javax.sound.sampled.AudioInputStream in = javax.sound.sampled.AudioSystem.getAudioInputStream(wav.toFile())) {
            javax.sound.sampled.AudioFormat f = in.getFormat();
            if (f.getSampleRate() != 16000 || f.getChannels() != 1 || f.getSampleSizeInBits() != 16 || f.isBigEndian()) {
                throw new IllegalArgumentException(wav + " is not 16 kHz mono S16LE: " + f);
            }
            byte[] b = in.readAllBytes();
            float[] out = new float[b.length / 2];
            for (int i = 0; i < out.length; i++) {
                out[i] = (short) ((b[2 * i] & 0xff) | (b[2 * i + 1] << 8)) / 32768f;
            }
            return out;
        }
    }
}
