package dev.omnicall.app.demo;

import io.quarkus.test.junit.QuarkusTestProfile;

import java.util.Map;

/**
 * The app as the zero-setup run starts it with the demo model: every role, the embedded broker, the demo checkpoint
 * with natural-length encoder input; plus speculative turns at 200 ms (off by default in the app). The rest is the test profile's (random ports, SIP digest auth, energy VAD).
 * Its own streams state directory: the app restarts for this profile on a fresh broker, and the other tests'
 * state in {@code target/streams-state} belongs to the broker they ran against.
 */
public class DemoModelProfile implements QuarkusTestProfile {

    @Override
    public Map<String, String> getConfigOverrides() {
        return Map.of(
                "omnicall.model.dir", DemoModel.checkpoint().toString(),
                "omnicall.model.encoder-padded-seconds", "0",
                // the test profile caps replies at 16 tokens for the tiny model; the demo model answers whole
                "omnicall.model.max-new-tokens", "256",
                // never write a random checkpoint into the demo model's directory
                "omnicall.model.write-tiny-if-missing", "false",
                // speculative turns (issue 15): the reply starts 200 ms into the caller's silence and is held until
                // the 500 ms end of turn confirms it, so the model's time overlaps the end-of-turn wait; the app's
                // default is off (its cost on hesitating human callers is unmeasured), a deployment turns it on
                "omnicall.vad.speculative-silence-ms", "200",
                "omnicall.streams.state-dir", "target/demo-call/streams-state-" + System.currentTimeMillis());
    }
}
