// See float_decode.h. Each thread takes whole rows of blocks; a block is read, transformed and
// written once, so nothing but the output is stored.

#include "float_decode.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <system_error>
#include <thread>
#include <vector>

namespace qgac {
namespace {

// floor(clamp(x, 0, 255) + 0.5) as the reference rounds; NaN -> 0. Written as selects, so that the
// loops over a block's pixels vectorise.
inline float to_level(float x) {
  x = x > 0.0f ? x : 0.0f;
  x = x < 255.0f ? x : 255.0f;
  return x + 0.5f;  // non-negative: the conversion's truncation is the floor
}

// Eight floats in one vector (GCC and Clang vector extensions): one AVX register, or two SSE ones
// in the baseline copy. Arithmetic on it is element-wise, in the order written.
typedef float Row __attribute__((vector_size(32)));

inline Row load_row(const float* p) {
  Row row;
  std::memcpy(&row, p, sizeof(row));
  return row;
}

// x clamped to [centre - half, centre + half] as the reference (maximum, then minimum; a NaN x stays
// NaN; the bins, a file's dequantized coefficients and steps, are finite).
inline Row clamp_to_bin(Row x, Row centre, Row half) {
  const Row low = centre - half, high = centre + half;
  x = x < low ? low : x;
  return x > high ? high : x;
}

// Inverse DCT of one de-normalised block: out = D^T X D + 128, as two passes of 8-wide rows
// (t = X D, then out = D^T t), each an accumulation of broadcast weights times rows.
inline void inverse_dct(const float* __restrict__ x, const float* __restrict__ d, float* __restrict__ out) {
  Row basis[8], t[8];
  for (int k = 0; k < 8; ++k) basis[k] = load_row(d + k * 8);
  for (int i = 0; i < 8; ++i) {
    Row row = x[i * 8] * basis[0];
    for (int k = 1; k < 8; ++k) row += x[i * 8 + k] * basis[k];
    t[i] = row;
  }
  for (int m = 0; m < 8; ++m) {
    Row row = 128.0f + d[m] * t[0];
    for (int i = 1; i < 8; ++i) row += d[i * 8 + m] * t[i];
    std::memcpy(out + m * 8, &row, sizeof(row));
  }
}

// Rounds a block's 64 values to pixels and writes its rows x cols part (the image's edge) at dst.
inline void store(const float* values, int64_t rows, int64_t cols, int64_t stride, uint8_t* dst) {
  int32_t levels[64];
  uint8_t block[64];
  for (int k = 0; k < 64; ++k) levels[k] = static_cast<int32_t>(to_level(values[k]));
  for (int k = 0; k < 64; ++k) block[k] = static_cast<uint8_t>(levels[k]);
  for (int64_t i = 0; i < rows; ++i) std::memcpy(dst + i * stride, block + i * 8, static_cast<size_t>(cols));
}

// On x86-64 ELF (ifunc), compiled twice, the AVX2 copy chosen at load time where the CPU has it (a
// Row in one register: 0.24 -> 0.15 s for 24 MP on one Zen 4 core; an AVX-512 copy was no faster).
// With contraction off (setup.py) both copies compute the same float operations in the same order.
#if defined(__x86_64__) && defined(__ELF__)
__attribute__((target_clones("avx2", "default")))
#endif
void decode_rows(const FloatDecodeRequest& r, int64_t first, int64_t last) {
  const int channels = r.chroma == nullptr ? 1 : 3;
  const int64_t blocks_h = r.plane_h / 8, blocks_w = (r.width + 7) / 8;
  const int64_t plane = r.plane_h * r.plane_w, image = static_cast<int64_t>(channels) * r.height * r.width;
  float coef[64], pixels[3][64];
  for (int64_t row = first; row < last; ++row) {
    const int64_t sample = row / blocks_h, by = row % blocks_h;
    const int64_t rows = std::min<int64_t>(8, r.height - by * 8);
    if (rows <= 0) continue;
    for (int64_t bx = 0; bx < blocks_w; ++bx) {
      const int64_t cols = std::min<int64_t>(8, r.width - bx * 8);
      for (int c = 0; c < channels; ++c) {
        const float* src = c == 0 ? r.luma + sample * plane : r.chroma + (sample * 2 + (c - 1)) * plane;
        src += by * 8 * r.plane_w + bx * 8;
        if (r.mean == nullptr) {
          for (int i = 0; i < 8; ++i) std::memcpy(coef + i * 8, src + i * r.plane_w, 8 * sizeof(float));
        } else {
          const float *scale = r.std + c * 64, *shift = r.mean + c * 64;
          for (int i = 0; i < 8; ++i) {
            const Row value = load_row(src + i * r.plane_w) * load_row(scale + i * 8) + load_row(shift + i * 8);
            std::memcpy(coef + i * 8, &value, sizeof(value));
          }
        }
        if (c == 0 && r.bins != nullptr) {
          const float* bin = r.bins + sample * plane + by * 8 * r.plane_w + bx * 8;
          const float* half = r.half_steps + sample * 64;
          for (int i = 0; i < 8; ++i) {
            const Row value =
                clamp_to_bin(load_row(coef + i * 8), load_row(bin + i * r.plane_w), load_row(half + i * 8));
            std::memcpy(coef + i * 8, &value, sizeof(value));
          }
        }
        inverse_dct(coef, r.dct, pixels[c]);
      }
      uint8_t* dst = r.out + sample * image + by * 8 * r.width + bx * 8;
      const int64_t channel = r.height * r.width;
      if (channels == 1) {
        store(pixels[0], rows, cols, r.width, dst);
        continue;
      }
      float rgb[64];
      for (int o = 0; o < 3; ++o) {
        const float m0 = r.colour[o * 3], m1 = r.colour[o * 3 + 1], m2 = r.colour[o * 3 + 2];
        for (int k = 0; k < 64; ++k) {
          rgb[k] = m0 * pixels[0][k] + m1 * (pixels[1][k] - 128.0f) + m2 * (pixels[2][k] - 128.0f);
        }
        store(rgb, rows, cols, r.width, dst + o * channel);
      }
    }
  }
}

}  // namespace

void float_decode(const FloatDecodeRequest& request) {
  const int64_t rows = request.n * (request.plane_h / 8);
  const int64_t threads = std::max<int64_t>(1, std::min<int64_t>(request.threads, rows));
  if (threads == 1) {
    decode_rows(request, 0, rows);
    return;
  }
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  int64_t started = 1;  // shares [0, started) of the rows go to this thread and the started ones
  try {
    for (; started < threads; ++started) {
      pool.emplace_back(decode_rows, std::cref(request), rows * started / threads, rows * (started + 1) / threads);
    }
  } catch (const std::system_error&) {
    // no more threads to be had (a process limit): this thread also takes the shares not started
  }
  decode_rows(request, 0, rows / threads);
  if (started < threads) decode_rows(request, rows * started / threads, rows);
  for (auto& thread : pool) thread.join();
}

}  // namespace qgac
