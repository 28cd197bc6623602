package dev.omnicall.model.omni2;

import dev.omnicall.model.HistoryTurn;
import dev.omnicall.model.Prompt;
import java.util.ArrayList;
import java.util.List;

/**
 * LLaMA-Omni2's prompt (CHECKPOINT-OMNI2.md "Prompt and chat template"): Qwen2.5's chat template with its default
 * system message (no system message is supplied), every user turn being {@code <speech>} (that turn's projected
 * speech rows go there, each turn its own), assistant turns their text replies, then the open assistant header.
 * An earlier caller turn whose audio is no longer carried (the conversation keeps audio for its recent turns only)
 * goes in as its transcript, or {@link HistoryTurn#UNTRANSCRIBED_USER}.
 */
public final class Omni2ChatPrompt {
    public static final String DEFAULT_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

    private Omni2ChatPrompt() {
    }

    /**
     * One earlier exchange: the caller's audio (16 kHz in [-1, 1]) when carried, else null and its text is used.
     */
    public record PastTurn(String userText, float[] userAudio16k, String assistantText) {
    }

    /** A piece of the prompt: template text, or the speech of caller turn {@code index} (history order, then this turn). */
    public sealed interface Piece permits Text, Speech {
    }

    public record Text(String text) implements Piece {
    }

    public record Speech(int index) implements Piece {
    }

    /**
     * The prompt as text and speech pieces, in order; the speech indices count the history turns that carry audio,
     * oldest first, and this turn last. Adjacent text is one piece: the reference tokenizes the whole template with
     * {@code <speech>} as a special token, so cutting the text at the speech tokens tokenizes the same.
     */
    public static List<Piece> pieces(List<PastTurn> history) {
        List<Piece> out = new ArrayList<>();
        StringBuilder text = new StringBuilder(turn("system", DEFAULT_SYSTEM));
        int speech = 0;
        for (PastTurn t : history) {
            text.append("<|im_start|>user\n");
            if (t.userAudio16k() != null) {
                out.add(new Text(text.toString()));
                out.add(new Speech(speech++));
                text.setLength(0);
            } else {
                text.append(t.userText() == null || t.userText().isBlank() ? HistoryTurn.UNTRANSCRIBED_USER
                        : t.userText().strip());
            }
            text.append("<|im_end|>\n");
            text.append(turn("assistant", t.assistantText() == null ? "" : t.assistantText().strip()));
        }
        text.append("<|im_start|>user\n");
        out.add(new Text(text.toString()));
        out.add(new Speech(speech));
        out.add(new Text("<|im_end|>\n<|im_start|>assistant\n"));
        return out;
    }

    /** The prompt around this turn's speech with every earlier turn as text (history without audio). */
    public static Prompt.Parts build(List<HistoryTurn> history) {
        List<PastTurn> past = history.stream().map(t -> new PastTurn(t.userText(), null, t.assistantText())).toList();
        List<Piece> p = pieces(past);
        return new Prompt.Parts(((Text) p.get(0)).text(), ((Text) p.get(2)).text());
    }

    private static String turn(String role, String text) {
        return "<|im_start|>" + role + "\n" + text + "<|im_end|>\n";
    }
}
