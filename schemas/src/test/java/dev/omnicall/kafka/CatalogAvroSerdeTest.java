package dev.omnicall.kafka;

import dev.omnicall.events.AudioSegment;
import dev.omnicall.events.CallEnded;
import dev.omnicall.events.CallEvent;
import dev.omnicall.events.EndReason;
import dev.omnicall.events.TurnRequest;
import dev.omnicall.events.TurnTimings;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.errors.SerializationException;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class CatalogAvroSerdeTest {

    private static <V extends SpecificRecord> V roundTrip(Class<V> type, V value) {
        CatalogAvroSerde<V> serde = new CatalogAvroSerde<>(type, SchemaCatalog.bundled());
        return serde.deserialize("t", serde.serialize("t", value));
    }

    @Test
    @org.junit.jupiter.api.Timeout(10)
    void shouldRefuseAnArrayClaimingMoreItemsThanTheRecordHasBytes_regressionFoundByCiFuzzing() {
        // Found by the CI fuzz run: a TurnRequest (id 3) whose history block claims ~2^31 items in 18 bytes;
        // Avro allocated the claimed capacity and the JVM ran out of memory
        byte[] record = java.util.HexFormat.of().parseHex("0000000003127b736565441d00000000000000afafafd00f02000000");
        var serde = new CatalogAvroSerde<>(TurnRequest.class, SchemaCatalog.bundled());

        assertThatThrownBy(() -> serde.deserialize("turn-requests", record)).isInstanceOf(SerializationException.class)
                .hasMessageContaining("corrupt Avro body").rootCause().hasMessageContaining("claims")
                .hasMessageContaining("items in a record of 23 bytes");
    }

    @Test
    void shouldRoundTripEveryEvent() {
        assertThat(roundTrip(CallEvent.class, SampleEvents.callStarted("c1"))).isEqualTo(SampleEvents.callStarted("c1"));
        assertThat(roundTrip(CallEvent.class, SampleEvents.callEnded("c1"))).isEqualTo(SampleEvents.callEnded("c1"));
        assertThat(roundTrip(AudioSegment.class, SampleEvents.segment("c1", 0, 3, true)))
                .isEqualTo(SampleEvents.segment("c1", 0, 3, true));
        assertThat(roundTrip(TurnRequest.class, SampleEvents.turnRequest("c1"))).isEqualTo(SampleEvents.turnRequest("c1"));
        assertThat(roundTrip(dev.omnicall.events.TextDelta.class, SampleEvents.textDelta("c1"))).isEqualTo(SampleEvents.textDelta("c1"));
        assertThat(roundTrip(dev.omnicall.events.AudioChunk.class, SampleEvents.audioChunk("c1"))).isEqualTo(SampleEvents.audioChunk("c1"));
        assertThat(roundTrip(dev.omnicall.events.TurnMetrics.class, SampleEvents.turnMetrics("c1"))).isEqualTo(SampleEvents.turnMetrics("c1"));
        assertThat(roundTrip(dev.omnicall.events.Transcript.class, SampleEvents.transcript("c1"))).isEqualTo(SampleEvents.transcript("c1"));
        assertThat(roundTrip(dev.omnicall.events.DeadLetter.class, SampleEvents.deadLetter())).isEqualTo(SampleEvents.deadLetter());
    }

    @Test
    void shouldFrameRecordsInTheConfluentWireFormat() {
        var serde = new CatalogAvroSerde<>(CallEvent.class, SchemaCatalog.bundled());

        byte[] bytes = serde.serialize("call-events", SampleEvents.callStarted("c1"));

        assertThat(bytes[0]).as("magic byte").isEqualTo((byte) 0);
        assertThat(ByteBuffer.wrap(bytes, 1, 4).getInt()).as("schema id").isEqualTo(serde.writerSchemaId()).isEqualTo(21);
    }

    @Test
    void shouldExplainARecordShorterThanTheHeader() {
        var serde = new CatalogAvroSerde<>(CallEvent.class, SchemaCatalog.bundled());

        assertThatThrownBy(() -> serde.deserialize("call-events", new byte[]{0, 0}))
                .isInstanceOf(SerializationException.class).hasMessageContaining("shorter than the 5-byte");
    }

    @Test
    void shouldExplainAWrongMagicByte() {
        var serde = new CatalogAvroSerde<>(CallEvent.class, SchemaCatalog.bundled());

        assertThatThrownBy(() -> serde.deserialize("call-events", "{\"callId\":1}".getBytes()))
                .isInstanceOf(SerializationException.class).hasMessageContaining("magic byte 0x7b");
    }

    @Test
    void shouldExplainAnUnknownSchemaId() {
        var serde = new CatalogAvroSerde<>(CallEvent.class, SchemaCatalog.bundled());

        assertThatThrownBy(() -> serde.deserialize("call-events", new byte[]{0, 0, 0, 0x7f, 0x7f, 1}))
                .isInstanceOf(SerializationException.class).hasMessageContaining("schema id 32639");
    }

    @Test
    void shouldRefuseARecordOfAnotherTypeOnTheTopic() {
        byte[] segment = new CatalogAvroSerde<>(AudioSegment.class, SchemaCatalog.bundled())
                .serialize("x", SampleEvents.segment("c1", 0, 0, false));
        var serde = new CatalogAvroSerde<>(CallEvent.class, SchemaCatalog.bundled());

        assertThatThrownBy(() -> serde.deserialize("call-events", segment))
                .isInstanceOf(SerializationException.class).hasMessageContaining("written as AudioSegment");
    }

    @Test
    void shouldExplainATruncatedBody() {
        var serde = new CatalogAvroSerde<>(TurnRequest.class, SchemaCatalog.bundled());
        byte[] whole = serde.serialize("t", SampleEvents.turnRequest("c1"));

        byte[] cut = Arrays.copyOf(whole, whole.length - 3);

        assertThatThrownBy(() -> serde.deserialize("turn-requests", cut))
                .isInstanceOf(SerializationException.class).hasMessageContaining("corrupt Avro body of TurnRequest");
    }

    @Test
    void shouldExplainTrailingGarbage() {
        var serde = new CatalogAvroSerde<>(CallEvent.class, SchemaCatalog.bundled());
        byte[] whole = serde.serialize("t", SampleEvents.callEnded("c1"));

        byte[] longer = Arrays.copyOf(whole, whole.length + 4);

        assertThatThrownBy(() -> serde.deserialize("call-events", longer))
                .isInstanceOf(SerializationException.class).hasMessageContaining("bytes left after");
    }

    @Test
    void shouldRefuseAByteFieldClaimingMoreBytesThanTheRecordHolds() {
        // Given an AudioSegment whose pcm length prefix claims ~1 GB (zig-zag varint) in a 40-byte record
        var serde = new CatalogAvroSerde<>(AudioSegment.class, SchemaCatalog.bundled());
        byte[] good = serde.serialize("t", SampleEvents.segment("c", 0, 0, false));
        // header(5) + callId "c" (len 0x02, 'c') + utteranceId 0 + seq 0 + sampleRate 16000 (3 bytes) -> pcm length at 13
        byte[] bad = good.clone();
        int pcmLengthAt = 5 + 2 + 1 + 1 + 3;
        assertThat(bad[pcmLengthAt]).as("fixture: pcm length of 4 bytes, zig-zag encoded").isEqualTo((byte) 8);
        byte[] huge = new byte[bad.length + 4];
        System.arraycopy(bad, 0, huge, 0, pcmLengthAt);
        byte[] varint = {(byte) 0x80, (byte) 0x80, (byte) 0x80, (byte) 0x80, 0x07};
        System.arraycopy(varint, 0, huge, pcmLengthAt, varint.length);
        System.arraycopy(bad, pcmLengthAt + 1, huge, pcmLengthAt + varint.length, bad.length - pcmLengthAt - 1);

        // When read, Then it is a clear error, not an allocation of a gigabyte
        assertThatThrownBy(() -> serde.deserialize("caller-audio", huge)).isInstanceOf(SerializationException.class);
    }

    @Test
    void shouldReadARecordWrittenWithAnOlderReleasedSchema() throws Exception {
        // Given a catalog where v1 of CallEvent lacked bridgeId's sibling field... here: v1 without "ptimeMs" default field
        Schema current = CallEvent.getClassSchema();
        String olderJson = current.toString().replace(",{\"name\":\"ptimeMs\",\"type\":\"int\",\"default\":20}", "");
        assertThat(olderJson).as("fixture removed ptimeMs").isNotEqualTo(current.toString());
        Schema older = new Schema.Parser().parse(olderJson);
        List<SchemaCatalog.Entry> entries = new ArrayList<>(SchemaCatalog.bundled().entries());
        entries.add(new SchemaCatalog.Entry(900, "CallEvent", 0, older));
        var serde = new CatalogAvroSerde<>(CallEvent.class, SchemaCatalog.of(entries));

        // When an old producer wrote a CallStarted without ptimeMs
        Schema startedOld = older.getField("payload").schema().getTypes().get(0);
        GenericRecord started = new GenericData.Record(startedOld);
        started.put("from", "sip:a@x");
        started.put("to", "sip:b@x");
        started.put("codec", new GenericData.EnumSymbol(startedOld.getField("codec").schema(), "PCMA"));
        GenericRecord event = new GenericData.Record(older);
        event.put("callId", "c9");
        event.put("bridgeId", "b");
        event.put("occurredUs", 7L);
        event.put("payload", started);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(new byte[]{0, 0, 0, 3, (byte) 0x84});
        BinaryEncoder enc = EncoderFactory.get().directBinaryEncoder(out, null);
        new GenericDatumWriter<GenericRecord>(older).write(event, enc);
        enc.flush();

        // Then today's reader fills in the default
        CallEvent read = serde.deserialize("call-events", out.toByteArray());
        assertThat(read.getCallId()).isEqualTo("c9");
        assertThat(((dev.omnicall.events.CallStarted) read.getPayload()).getPtimeMs()).isEqualTo(20);
    }

    @Test
    void shouldReadACallEndedThatAV1ProducerWroteWithTheV2Reader() throws Exception {
        // Given a CallEnded(BRIDGE_SHUTDOWN) framed with id 1, as a bridge built before CallEvent v2 wrote it
        SchemaCatalog.Entry v1 = SchemaCatalog.bundled().versionsOf("CallEvent").get(0);
        assertThat(v1.id()).isEqualTo(1);
        Schema endedV1 = v1.schema().getField("payload").schema().getTypes().get(1);
        GenericRecord ended = new GenericData.Record(endedV1);
        ended.put("reason", new GenericData.EnumSymbol(endedV1.getField("reason").schema(), "BRIDGE_SHUTDOWN"));
        ended.put("detail", "bridge shutting down");
        GenericRecord event = new GenericData.Record(v1.schema());
        event.put("callId", "c1");
        event.put("bridgeId", "b");
        event.put("occurredUs", 7L);
        event.put("payload", ended);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(new byte[]{0, 0, 0, 0, 1});
        BinaryEncoder enc = EncoderFactory.get().directBinaryEncoder(out, null);
        new GenericDatumWriter<GenericRecord>(v1.schema()).write(event, enc);
        enc.flush();

        // When today's serde reads it
        CallEvent read = new CatalogAvroSerde<>(CallEvent.class, SchemaCatalog.bundled()).deserialize("call-events", out.toByteArray());

        // Then the reason is resolved by name, not by position
        assertThat(((CallEnded) read.getPayload()).getReason()).isEqualTo(EndReason.BRIDGE_SHUTDOWN);
        assertThat(((CallEnded) read.getPayload()).getDetail()).isEqualTo("bridge shutting down");
    }

    @Test
    void shouldGiveAV1ReaderTheEnumDefaultErrorForBridgeLost() throws Exception {
        // Given a CallEnded(BRIDGE_LOST) written with today's schema (v4: BRIDGE_LOST came in v2)
        var serde = new CatalogAvroSerde<>(CallEvent.class, SchemaCatalog.bundled());
        CallEvent lost = CallEvent.newBuilder().setCallId("c1").setBridgeId("b").setOccurredUs(7L)
                .setPayload(CallEnded.newBuilder().setReason(EndReason.BRIDGE_LOST).setDetail("bridge restarted").build())
                .build();
        byte[] bytes = serde.serialize("call-events", lost);
        SchemaCatalog.Entry writer = SchemaCatalog.bundled().byId(ByteBuffer.wrap(bytes, 1, 4).getInt());
        assertThat(writer.version()).isEqualTo(4);

        // When a reader that knows only v1 resolves it (what a registry-backed consumer built before v2 does)
        Schema v1 = SchemaCatalog.bundled().versionsOf("CallEvent").get(0).schema();
        GenericRecord read = new GenericDatumReader<GenericRecord>(writer.schema(), v1)
                .read(null, DecoderFactory.get().binaryDecoder(bytes, 5, bytes.length - 5, null));

        // Then it sees the enum's default, ERROR, and the detail
        GenericRecord payload = (GenericRecord) read.get("payload");
        assertThat(payload.get("reason").toString()).isEqualTo("ERROR");
        assertThat(payload.get("detail").toString()).isEqualTo("bridge restarted");
    }

    @Test
    void shouldReadATurnRequestThatAV1StreamsInstanceWroteWithoutRequestConsumedUs() throws Exception {
        // Given a TurnRequest framed with id 3 (TurnRequest v1, before TurnTimings.requestConsumedUs), as streams built before v2 wrote it
        SchemaCatalog.Entry v1 = SchemaCatalog.bundled().versionsOf("TurnRequest").get(0);
        assertThat(v1.id()).isEqualTo(3);
        assertThat(v1.schema().getField("timings").schema().getField("requestConsumedUs")).isNull();
        var serde = new CatalogAvroSerde<>(TurnRequest.class, SchemaCatalog.bundled());
        TurnRequest sample = SampleEvents.turnRequest("c1");
        sample.getTimings().setRequestProducedUs(2_000L);
        sample.getTimings().setInferenceStartUs(3_000L);
        GenericRecord asV1 = toGeneric(sample, v1.schema());
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(new byte[]{0, 0, 0, 0, 3});
        BinaryEncoder enc = EncoderFactory.get().directBinaryEncoder(out, null);
        new GenericDatumWriter<GenericRecord>(v1.schema()).write(asV1, enc);
        enc.flush();

        // When today's serde reads it
        TurnRequest read = serde.deserialize("turn-requests", out.toByteArray());

        // Then the new stamp is null (the stage falls back to request_to_inference) and the others survive by name
        TurnTimings t = read.getTimings();
        assertThat(t.getRequestConsumedUs()).isNull();
        assertThat(t.getRequestProducedUs()).isEqualTo(2_000L);
        assertThat(t.getInferenceStartUs()).isEqualTo(3_000L);
        assertThat(t.getSpeechEndUs()).isEqualTo(1_000L);
    }

    @Test
    void shouldLetAV1ReaderSkipRequestConsumedUsInATurnRequestWrittenWithV2() throws Exception {
        // Given a TurnRequest written with today's schema (v3, id 20) carrying requestConsumedUs
        var serde = new CatalogAvroSerde<>(TurnRequest.class, SchemaCatalog.bundled());
        TurnRequest sample = SampleEvents.turnRequest("c1");
        sample.getTimings().setRequestProducedUs(2_000L);
        sample.getTimings().setRequestConsumedUs(2_500L);
        sample.getTimings().setInferenceStartUs(3_000L);
        byte[] bytes = serde.serialize("turn-requests", sample);
        SchemaCatalog.Entry writer = SchemaCatalog.bundled().byId(ByteBuffer.wrap(bytes, 1, 4).getInt());
        assertThat(writer.id()).isEqualTo(20);
        assertThat(writer.version()).isEqualTo(3);

        // When a reader that knows only v1 resolves it with the v2 writer schema
        Schema v1 = SchemaCatalog.bundled().versionsOf("TurnRequest").get(0).schema();
        GenericRecord read = new GenericDatumReader<GenericRecord>(writer.schema(), v1)
                .read(null, DecoderFactory.get().binaryDecoder(bytes, 5, bytes.length - 5, null));

        // Then the unknown stamp is skipped and the stamps after it still line up
        GenericRecord timings = (GenericRecord) read.get("timings");
        assertThat(timings.getSchema().getField("requestConsumedUs")).isNull();
        assertThat(timings.get("requestProducedUs")).isEqualTo(2_000L);
        assertThat(timings.get("inferenceStartUs")).isEqualTo(3_000L);
    }

    /** Today's record re-read as a generic record of an older schema (fields resolved by name). */
    private static GenericRecord toGeneric(SpecificRecord value, Schema older) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        BinaryEncoder enc = EncoderFactory.get().directBinaryEncoder(out, null);
        new org.apache.avro.specific.SpecificDatumWriter<SpecificRecord>(value.getSchema()).write(value, enc);
        enc.flush();
        return new GenericDatumReader<GenericRecord>(value.getSchema(), older)
                .read(null, DecoderFactory.get().binaryDecoder(out.toByteArray(), null));
    }
}
