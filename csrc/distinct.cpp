// See distinct.h. One pass: each row is hashed and looked up among the rows kept so far; a table
// of at least twice as many slots as rows keeps the probe sequences short. Linear time, against
// the O(n log n) comparison sort of numpy.unique on opaque rows. The hash is seeded once per
// process at random, so that no file can be made of blocks that all fall in one probe sequence
// (which would make the search quadratic); the result does not depend on the seed.

#include "distinct.h"

#include <cstring>
#include <random>

namespace qgac {
namespace {

// 64-bit hash of `width` bytes: 8-byte words folded with multiplications, then a final mix
// (murmur3's finaliser), so that the low bits that pick a slot depend on every byte.
uint64_t hash_row(const uint8_t* row, int64_t width, uint64_t seed) {
  uint64_t h = seed ^ static_cast<uint64_t>(width);
  int64_t i = 0;
  for (; i + 8 <= width; i += 8) {
    uint64_t word;
    std::memcpy(&word, row + i, 8);
    h = (h ^ word) * 0xFF51AFD7ED558CCDull;
    h ^= h >> 29;
  }
  for (; i < width; ++i) h = (h ^ row[i]) * 0x100000001B3ull;
  h ^= h >> 33;
  h *= 0xC4CEB9FE1A85EC53ull;
  h ^= h >> 33;
  return h;
}

}  // namespace

std::vector<int64_t> distinct_rows(const uint8_t* rows, int64_t count, int64_t width) {
  static const uint64_t seed = (static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}() ^
                               0x9E3779B97F4A7C15ull;
  std::vector<int64_t> kept;
  if (count <= 0) return kept;
  uint64_t slots = 16;
  while (slots < 2 * static_cast<uint64_t>(count)) slots <<= 1;
  const uint64_t mask = slots - 1;
  std::vector<int64_t> table(slots, -1);  // row index per slot, -1: empty
  for (int64_t r = 0; r < count; ++r) {
    const uint8_t* row = rows + r * width;
    for (uint64_t slot = hash_row(row, width, seed) & mask;; slot = (slot + 1) & mask) {
      const int64_t other = table[slot];
      if (other < 0) {
        table[slot] = r;
        kept.push_back(r);
        break;
      }
      if (std::memcmp(rows + other * width, row, static_cast<size_t>(width)) == 0) break;
    }
  }
  return kept;
}

}  // namespace qgac
