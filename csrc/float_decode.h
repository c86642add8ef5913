// The float decode of the model's output on the CPU: normalised tiled DCT coefficients to uint8
// pixels in one pass over each 8x8 block (de-normalise, clamp Y to its quantization bins, inverse
// DCT, YCbCr -> RGB, round). The CPU twin of qgac_fast.functional.jpeg.decode_normalized for planes
// on one grid (chroma at the luma's size, or gray); the Python side and its contract are qgac_fast/native.py.

#pragma once

#include <cstdint>

namespace qgac {

struct FloatDecodeRequest {
  const float* luma = nullptr;    // (n, plane_h, plane_w) Y coefficients, tiled 8x8 blocks
  const float* chroma = nullptr;  // (n, 2, plane_h, plane_w) Cb, Cr on the same grid, or null (gray)
  const float* mean = nullptr;    // (channels, 8, 8) per channel and frequency, or null (none)
  const float* std = nullptr;     // (channels, 8, 8), null exactly when mean is
  // The quantization constraint, or both null: the input's dequantized Y (n, plane_h, plane_w), tiled
  // 8x8 blocks, and half its steps (n, 64); the de-normalised Y is clamped to dequantized +- half step.
  const float* bins = nullptr;
  const float* half_steps = nullptr;
  const float* dct = nullptr;     // (8, 8) orthonormal DCT-II matrix D: a block is D^T X D
  const float* colour = nullptr;  // (3, 3) YCbCr -> RGB rows applied to (Y, Cb - 128, Cr - 128)
  int64_t n = 0, plane_h = 0, plane_w = 0;  // plane sizes: multiples of 8
  int64_t height = 0, width = 0;            // the output's size, at most the plane's
  uint8_t* out = nullptr;                   // (n, channels, height, width)
  int threads = 1;                          // threads that share the block rows
};

// Decodes the request; the caller has checked its shapes.
void float_decode(const FloatDecodeRequest& request);

}  // namespace qgac
