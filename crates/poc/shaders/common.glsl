// Shared by the PoC shaders. Mirrors src/task.rs exactly: uint arithmetic in GLSL (SPIR-V
// OpIMul/OpIAdd) is modulo 2^32, like Rust's wrapping_mul/wrapping_add.

// murmur3's 32-bit finalizer (task::fmix32).
uint fmix32(uint h) {
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

// The output mixing of a round (task::mix_out).
uint mix_out(uint x) {
    return x ^ (x >> 16);
}
