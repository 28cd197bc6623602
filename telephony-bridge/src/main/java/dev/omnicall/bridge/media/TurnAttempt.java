package dev.omnicall.bridge.media;

/** One attempt at generating the reply of a turn (the worker retries with attempt + 1). */
public record TurnAttempt(int turnId, int attempt) {}
