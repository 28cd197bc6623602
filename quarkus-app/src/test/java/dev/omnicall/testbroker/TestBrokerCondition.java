package dev.omnicall.testbroker;

import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtensionContext;

import java.util.Locale;
import java.util.function.BooleanSupplier;

/**
 * Skips a broker-backed test class, with the reason, when {@code -Dit.kafka=container} is asked for and no Docker
 * engine is reachable. For {@code @QuarkusTest} classes it is decided before Quarkus boots, so the app (and
 * {@link TestBrokerResource}) never starts for nothing.
 */
public final class TestBrokerCondition implements ExecutionCondition {

    @Override
    public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
        return evaluate(BrokerChoice.current(), Docker::available);
    }

    static ConditionEvaluationResult evaluate(BrokerChoice choice, BooleanSupplier dockerAvailable) {
        return choice.skipReason(dockerAvailable)
                .map(ConditionEvaluationResult::disabled)
                .orElseGet(() -> ConditionEvaluationResult.enabled("broker: " + choice.name().toLowerCase(Locale.ROOT)));
    }
}
