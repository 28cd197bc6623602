package dev.omnicall.model.config;

/** RoPE base and optional llama3 scaling (null: none, as Qwen2's), as the shared transformer applies them. */
public record RopeSettings(double theta, RopeScaling scaling) {
}
