package dev.omnicall.model.omni;

import dev.omnicall.model.HistoryTurn;
import dev.omnicall.model.Prompt;

import java.util.List;

/**
 * LLaMA-Omni's {@code llama_3} conversation template: system turn, earlier turns as text, then the user
 * turn whose {@code <speech>} placeholder is replaced by the projected speech rows, then the open
 * assistant header. The text before and after the speech is returned as two strings to tokenize.
 */
public final class ChatPrompt {
    public static final String SYSTEM = "You are a helpful language and speech assistant. You are able to "
            + "understand the speech content that the user provides, and assist the user with a variety of "
            + "tasks using natural language.";
    public static final String INSTRUCTION = "Please directly answer the questions in the user's speech.";
    private ChatPrompt() {
    }

    public static Prompt.Parts build(List<HistoryTurn> history) {
        StringBuilder before = new StringBuilder("<|begin_of_text|>");
        before.append(header("system")).append(SYSTEM.strip()).append("<|eot_id|>");
        for (HistoryTurn turn : history) {
            String user = turn.userText() == null || turn.userText().isBlank() ? HistoryTurn.UNTRANSCRIBED_USER : turn.userText();
            before.append(header("user")).append(user.strip()).append("<|eot_id|>");
            before.append(header("assistant")).append(turn.assistantText() == null ? "" : turn.assistantText().strip())
                    .append("<|eot_id|>");
        }
        before.append(header("user"));
        String after = "\n" + INSTRUCTION + "<|eot_id|>" + header("assistant");
        return new Prompt.Parts(before.toString(), after);
    }

    private static String header(String role) {
        return "<|start_header_id|>" + role + "<|end_header_id|>\n\n";
    }
}
