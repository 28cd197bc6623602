package dev.omnicall.model.omni;

/**
 * Wall-clock stamps of a turn in epoch microseconds (0 = not reached yet), named like the fields of
 * the TurnTimings event: inference start, prefill done (log-mel + encoder + adaptor + LLM prefill),
 * first units (the first Ω units left the CTC decoder) and first audio (the vocoder returned chunk 0).
 */
public record TurnStamps(long inferenceStartUs, long prefillDoneUs, long firstUnitsUs, long firstAudioUs) {
}
