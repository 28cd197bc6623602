package dev.omnicall.model;

/**
 * An earlier exchange of the call, as both model families' prompts take it: the caller's words (null or blank when
 * they were not transcribed) and the reply.
 */
public record HistoryTurn(String userText, String assistantText) {
    /** Stands in for a history turn whose caller words were not transcribed. */
    public static final String UNTRANSCRIBED_USER = "(spoken question)";
}
