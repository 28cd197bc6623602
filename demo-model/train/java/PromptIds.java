import com.google.gson.Gson;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.omnicall.model.HistoryTurn;
import dev.omnicall.model.OmniTokenizer;
import dev.omnicall.model.Prompt;
import dev.omnicall.model.omni.ChatPrompt;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The demo trainer's bridge to the runtime's tokenization: builds the llama_3 prompts with the runtime's own
 * ChatPrompt and tokenizes them (and plain texts) with the runtime's OmniTokenizer (DJL HF tokenizers on the
 * checkpoint's tokenizer.json), so that training and serving see identical token ids.
 *
 * <pre>java -cp gpu-workers/target/classes:CP:DIR PromptIds CHECKPOINT_DIR in.json out.json</pre>
 * in.json: {"histories": [[[user, assistant], ...], ...], "texts": [...]};
 * out.json: {"before": [[ids] per history], "after": [ids], "texts": [[ids] per text], "decoded": [text per text]}.
 */
public final class PromptIds {
    public static void main(String[] args) throws Exception {
        Gson gson = new Gson();
        JsonObject in = gson.fromJson(Files.readString(Path.of(args[1])), JsonObject.class);
        JsonObject out = new JsonObject();
        try (OmniTokenizer tok = OmniTokenizer.load(Path.of(args[0]))) {
            JsonArray before = new JsonArray();
            String after = null;
            for (JsonElement h : in.getAsJsonArray("histories")) {
                List<HistoryTurn> turns = new ArrayList<>();
                for (JsonElement t : h.getAsJsonArray()) {
                    JsonArray pair = t.getAsJsonArray();
                    turns.add(new HistoryTurn(pair.get(0).isJsonNull() ? null : pair.get(0).getAsString(),
                            pair.get(1).getAsString()));
                }
                Prompt.Parts parts = ChatPrompt.build(turns);
                before.add(gson.toJsonTree(tok.encode(parts.beforeSpeech())));
                after = parts.afterSpeech();
            }
            out.add("before", before);
            out.add("after", gson.toJsonTree(tok.encode(after == null ? ChatPrompt.build(List.of()).afterSpeech() : after)));
            JsonArray texts = new JsonArray();
            JsonArray decoded = new JsonArray();
            for (JsonElement t : in.getAsJsonArray("texts")) {
                long[] ids = tok.encode(t.getAsString());
                texts.add(gson.toJsonTree(ids));
                decoded.add(tok.decode(ids));
            }
            out.add("texts", texts);
            out.add("decoded", decoded);
            JsonObject specials = new JsonObject();
            for (String s : List.of("<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                    "<|eom_id|>", "<|eot_id|>")) {
                specials.addProperty(s, tok.specialId(s));
            }
            out.add("specials", specials);
        }
        Files.writeString(Path.of(args[2]), gson.toJson(out));
    }
}
