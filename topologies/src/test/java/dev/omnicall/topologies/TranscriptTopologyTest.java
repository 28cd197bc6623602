package dev.omnicall.topologies;

import dev.omnicall.events.Dtmf;
import dev.omnicall.events.Transcript;
import dev.omnicall.events.TranscriptTurn;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;


import static org.assertj.core.api.Assertions.assertThat;

class TranscriptTopologyTest {

    @RegisterExtension
    final TopologyFixture topology = new TopologyFixture();
    private ConversationDriver d = topology.open(ConversationConfig.defaults());

    @Test
    void shouldPublishTheWholeTranscriptOnEveryChangeKeyedByCall() {
        d.events.pipeInput("call-1", ConversationDriver.started("call-1"));
        d.sendUtterance("call-1", 0, 1, 160);
        d.reply("call-1", 0, 0, "One");
        d.events.pipeInput("call-1", ConversationDriver.event("call-1", new Dtmf("5", 100)));
        d.sendUtterance("call-1", 1, 1, 160);
        d.reply("call-1", 1, 0, "Two");
        d.events.pipeInput("call-1", ConversationDriver.ended("call-1"));

        var all = d.transcripts.readKeyValuesToList();
        assertThat(all).extracting(kv -> kv.key).containsOnly("call-1");
        Transcript last = all.get(all.size() - 1).value;
        assertThat(last.getTurns()).extracting(TranscriptTurn::getAssistantText).containsExactly("One", "Two");
        assertThat(last.getDtmf()).isEqualTo("5");
        assertThat(last.getEnded()).isTrue();
        assertThat(all).hasSize(5);   // started, turn 0, dtmf, turn 1, ended
    }

    @Test
    void shouldStartAFreshTranscriptWhenACallIdIsReusedAfterItEnded() {
        d.sendUtterance("call-1", 0, 1, 160);
        d.reply("call-1", 0, 0, "Old");
        d.events.pipeInput("call-1", ConversationDriver.ended("call-1"));
        d.transcripts.readValuesToList();

        d.events.pipeInput("call-1", ConversationDriver.started("call-1"));

        Transcript fresh = d.transcripts.readValue();
        assertThat(fresh.getTurns()).isEmpty();
        assertThat(fresh.getEnded()).isFalse();
    }
}
