#version 450
// One round of the task: c = mix_out(a x b), n x n row-major u32, n a multiple of TILE.
// A workgroup of 16 x 16 invocations computes a 128 x 128 tile of c; each invocation an
// 8 x 8 block of accumulators (rows ty + 16 i, columns tx + 16 j, so that neighbouring
// invocations touch neighbouring columns: coalesced global stores, conflict-free shared reads).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"

#define TILE 128
#define TK 8
#define TM 8

layout(local_size_x = 16, local_size_y = 16, local_size_z = 1) in;

layout(push_constant) uniform Params { uint n; } pc;

layout(std430, set = 0, binding = 0) readonly buffer A { uint a[]; };
layout(std430, set = 0, binding = 1) readonly buffer B { uint b[]; };
layout(std430, set = 0, binding = 2) writeonly buffer C { uint c[]; };

shared uint As[TILE][TK];
shared uint Bs[TK][TILE];

void main() {
    uint n = pc.n;
    uint tx = gl_LocalInvocationID.x;
    uint ty = gl_LocalInvocationID.y;
    uint tid = ty * 16u + tx;
    uint row0 = gl_WorkGroupID.y * TILE;
    uint col0 = gl_WorkGroupID.x * TILE;

    uint acc[TM][TM];
    [[unroll]] for (uint i = 0u; i < TM; i++) {
        [[unroll]] for (uint j = 0u; j < TM; j++) {
            acc[i][j] = 0u;
        }
    }

    for (uint k0 = 0u; k0 < n; k0 += TK) {
        // 128 x 8 of a and 8 x 128 of b: 1024 words each, 4 per invocation.
        [[unroll]] for (uint q = 0u; q < 4u; q++) {
            uint idx = tid + q * 256u;
            uint ar = idx / TK;
            uint ak = idx % TK;
            As[ar][ak] = a[(row0 + ar) * n + k0 + ak];
            uint bk = idx / TILE;
            uint bc = idx % TILE;
            Bs[bk][bc] = b[(k0 + bk) * n + col0 + bc];
        }
        barrier();
        [[unroll]] for (uint kk = 0u; kk < TK; kk++) {
            uint av[TM];
            uint bv[TM];
            [[unroll]] for (uint i = 0u; i < TM; i++) {
                av[i] = As[ty + 16u * i][kk];
                bv[i] = Bs[kk][tx + 16u * i];
            }
            [[unroll]] for (uint i = 0u; i < TM; i++) {
                [[unroll]] for (uint j = 0u; j < TM; j++) {
                    acc[i][j] += av[i] * bv[j];
                }
            }
        }
        barrier();
    }

    [[unroll]] for (uint i = 0u; i < TM; i++) {
        uint row = row0 + ty + 16u * i;
        [[unroll]] for (uint j = 0u; j < TM; j++) {
            c[row * n + col0 + tx + 16u * j] = mix_out(acc[i][j]);
        }
    }
}
