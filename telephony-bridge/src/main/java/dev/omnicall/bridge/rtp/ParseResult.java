package dev.omnicall.bridge.rtp;

import java.util.function.Function;

/**
 * The outcome of parsing bytes from the network: a value or the reason it was rejected. Parsers return
 * this instead of throwing so that a receive loop can count the failure and carry on.
 */
public sealed interface ParseResult<T> {

    record Ok<T>(T value) implements ParseResult<T> {}

    record Failed<T>(MalformedPacketException error) implements ParseResult<T> {}

    static <T> ParseResult<T> ok(T value) {
        return new Ok<>(value);
    }

    static <T> ParseResult<T> failed(MalformedPacketException error) {
        return new Failed<>(error);
    }

    default boolean isOk() {
        return this instanceof Ok<T>;
    }

    /** The parsed value; throws the parse error (checked) when there is none. For tests and tools. */
    default T orThrow() throws MalformedPacketException {
        if (this instanceof Ok<T> ok) {
            return ok.value();
        }
        throw ((Failed<T>) this).error();
    }

    default <U> ParseResult<U> map(Function<T, U> f) {
        if (this instanceof Ok<T> ok) {
            return new Ok<>(f.apply(ok.value()));
        }
        return new Failed<>(((Failed<T>) this).error());
    }
}
