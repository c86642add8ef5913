// The distinct rows of a byte matrix: the first occurrence of each row, by an open-addressing hash
// table of row indices (rows compared by their bytes). What qgac_fast/distinct.py calls; the
// Python side and its contract are there.

#pragma once

#include <cstdint>
#include <vector>

namespace qgac {

// Indices, ascending, of the first occurrence of each distinct row of `rows` (row-major, `count`
// rows of `width` bytes each).
std::vector<int64_t> distinct_rows(const uint8_t* rows, int64_t count, int64_t width);

}  // namespace qgac
