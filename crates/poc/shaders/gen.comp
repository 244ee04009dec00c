#version 450
// Generates matrix m of a task (task::MatrixKey): one invocation per entry.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(local_size_x = 16, local_size_y = 16, local_size_z = 1) in;

layout(push_constant) uniform Params {
    uvec4 key; // TaskKey words 0..3
    uint m;    // 0 = A, t + 1 = B_t
    uint n;
} pc;

layout(std430, set = 0, binding = 0) writeonly buffer Out { uint data[]; };

void main() {
    uint c = gl_GlobalInvocationID.x;
    uint r = gl_GlobalInvocationID.y;
    if (c >= pc.n || r >= pc.n) {
        return;
    }
    uint mk = fmix32(pc.key.x ^ fmix32(pc.m ^ pc.key.y));
    uint rk = fmix32(mk ^ fmix32(r ^ pc.key.z));
    uint ck = fmix32(c ^ pc.key.w);
    data[r * pc.n + c] = fmix32(rk ^ ck);
}
