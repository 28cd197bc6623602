package dev.omnicall.model.io;

/**
 * IEEE half and bfloat16 conversions done in Java. DJL aborts the JVM when asked to create a bf16
 * NDArray, so bf16 checkpoints are widened here before they reach the engine; Java 17 has no
 * {@code Float.floatToFloat16}, so fp16 encoding (for the tiny checkpoint writer) lives here too.
 */
public final class HalfFloats {
    private HalfFloats() {
    }

    /** bfloat16 is the top half of a float32: widening is a shift. */
    public static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xffff) << 16);
    }

    /** float32 to bfloat16 with round-to-nearest-even (NaN stays NaN). */
    public static short floatToBf16(float value) {
        int bits = Float.floatToRawIntBits(value);
        if (Float.isNaN(value)) {
            return (short) ((bits >>> 16) | 0x40);
        }
        int roundingBias = 0x7fff + ((bits >>> 16) & 1);
        return (short) ((bits + roundingBias) >>> 16);
    }

    /** IEEE 754 binary16 to float32, subnormals and infinities included. */
    public static float halfToFloat(short bits) {
        int h = bits & 0xffff;
        int sign = (h & 0x8000) << 16;
        int exponent = (h >>> 10) & 0x1f;
        int mantissa = h & 0x3ff;
        if (exponent == 0x1f) {
            return Float.intBitsToFloat(sign | 0x7f800000 | (mantissa << 13));
        }
        if (exponent == 0) {
            if (mantissa == 0) {
                return Float.intBitsToFloat(sign);
            }
            // subnormal: value = mantissa * 2^-24
            float magnitude = mantissa * 0x1p-24f;
            return sign == 0 ? magnitude : -magnitude;
        }
        return Float.intBitsToFloat(sign | ((exponent + 112) << 23) | (mantissa << 13));
    }

    /** float32 to IEEE binary16, round-to-nearest-even, overflow to infinity. */
    public static short floatToHalf(float value) {
        int bits = Float.floatToRawIntBits(value);
        int sign = (bits >>> 16) & 0x8000;
        if (Float.isNaN(value)) {
            return (short) (sign | 0x7e00);
        }
        float abs = Math.abs(value);
        if (abs >= 65520f) {
            return (short) (sign | 0x7c00);
        }
        if (abs < 0x1p-14f) {
            // subnormal half (or zero): quantise to multiples of 2^-24
            int mantissa = (int) Math.rint(abs * 0x1p24f);
            return (short) (sign | mantissa);
        }
        int exp = ((bits >>> 23) & 0xff) - 127 + 15;
        int mantissa = bits & 0x7fffff;
        int half = (exp << 10) | (mantissa >>> 13);
        int rest = mantissa & 0x1fff;
        if (rest > 0x1000 || (rest == 0x1000 && (half & 1) == 1)) {
            half++;
        }
        return (short) (sign | half);
    }
}
