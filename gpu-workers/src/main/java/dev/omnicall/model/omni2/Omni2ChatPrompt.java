package dev.omnicall.model.omni2;

import dev.omnicall.model.ChatPrompt;
import java.util.List;

/**
 * LLaMA-Omni2's prompt: Qwen2.5's chat template with its default system message (no system message is supplied,
 * CHECKPOINT-OMNI2.md "Prompt and chat template"), the user turn being {@code <speech>} (the projected speech rows
 * go there), then the open assistant header. Earlier turns go in as text for now: a user turn as its transcript
 * (or {@link ChatPrompt#UNTRANSCRIBED_USER}), an assistant turn as its reply; the reference puts earlier user turns
 * in as speech (issue 13 item 6, not done).
 */
public final class Omni2ChatPrompt {
    public static final String DEFAULT_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

    private Omni2ChatPrompt() {
    }

    public static ChatPrompt.Parts build(List<ChatPrompt.HistoryTurn> history) {
        StringBuilder before = new StringBuilder(turn("system", DEFAULT_SYSTEM));
        for (ChatPrompt.HistoryTurn t : history) {
            String user = t.userText() == null || t.userText().isBlank() ? ChatPrompt.UNTRANSCRIBED_USER
                    : t.userText().strip();
            before.append(turn("user", user));
            before.append(turn("assistant", t.assistantText() == null ? "" : t.assistantText().strip()));
        }
        before.append("<|im_start|>user\n");
        return new ChatPrompt.Parts(before.toString(), "<|im_end|>\n<|im_start|>assistant\n");
    }

    private static String turn(String role, String text) {
        return "<|im_start|>" + role + "\n" + text + "<|im_end|>\n";
    }
}
