// How an update reads its gradient (as is, or clipped), and the global
// gradient norm as a deterministic reduction. Plain C++17, no Python.
#pragma once

#include <algorithm>
#include <limits>

#include "common.hpp"
#include "tensor.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace pyoptim {

// Gradient clipping applied inside the update pass: each element is
// multiplied by `scale` (clipping by global norm), then clamped to
// [-clip_value, clip_value] (clipping by value).
struct GradientClip {
  double scale = 1.0;
  double clip_value = std::numeric_limits<double>::infinity();

  bool active() const { return scale != 1.0 || clip_value != std::numeric_limits<double>::infinity(); }
};

// Elements per block of the norm reduction. Blocks are fixed in the
// concatenated range, whatever the thread count, and are summed in order:
// that is what makes the norm's bits independent of the threads.
constexpr std::size_t kNormBlock = 8192;
// Independent partial sums per block; element j of the range always feeds
// lane j % kNormLanes, so every SIMD width adds the same numbers in the same order.
constexpr int kNormLanes = 16;

inline std::size_t norm_blocks(std::size_t total) { return (total + kNormBlock - 1) / kNormBlock; }

}  // namespace pyoptim

PYOPTIM_BEGIN_NAMESPACE

template <class T>
struct RawGradient {
  T operator()(T g) const { return g; }
};

template <class T>
struct ClippedGradient {
  T scale, low, high;
  explicit ClippedGradient(const GradientClip& c)
      : scale(T(c.scale)), low(T(-c.clip_value)), high(T(c.clip_value)) {}
  // NaN stays NaN: both comparisons are false.
  T operator()(T g) const {
    const T x = g * scale;
    return x < low ? low : (x > high ? high : x);
  }
};

// Adds g^2 (to `squares`) and g - g (to `finite`: 0, or NaN once any element
// is Inf or NaN) of x[0, n) into the lanes, element j going to lane (phase + j) % lanes.
template <class T>
inline void accumulate_lanes(const T* PYOPTIM_RESTRICT x, std::size_t n, std::size_t phase,
                             double* PYOPTIM_RESTRICT squares, double* PYOPTIM_RESTRICT finite) {
  std::size_t j = 0;
  for (; j < n && (phase + j) % kNormLanes != 0; ++j) {
    const double v = double(x[j]);
    squares[(phase + j) % kNormLanes] += v * v;
    finite[(phase + j) % kNormLanes] += v - v;
  }
  for (; j + kNormLanes <= n; j += kNormLanes) {
    PYOPTIM_SIMD
    for (int k = 0; k < kNormLanes; ++k) {
      const double v = double(x[j + std::size_t(k)]);
      squares[k] += v * v;
      finite[k] += v - v;
    }
  }
  for (int k = 0; j < n; ++j, ++k) {
    const double v = double(x[j]);
    squares[k] += v * v;
    finite[k] += v - v;
  }
}

// Sum of squares of every gradient element, and 0 (all finite) or NaN, into
// *squares and *finite. `partials` has room for 2 * norm_blocks(total) doubles.
template <class T>
void gradient_squares(const TensorRef<T>* tensors, std::size_t count, int threads, double* partials,
                      double* squares, double* finite) {
  std::size_t total = 0;
  for (std::size_t t = 0; t < count; ++t) total += tensors[t].size;
  const std::size_t blocks = norm_blocks(total);

  auto reduce_blocks = [&](std::size_t first, std::size_t last) {
    std::size_t t = 0, offset = 0;  // tensor t starts at `offset` in the range
    for (std::size_t b = first; b < last; ++b) {
      double sq[kNormLanes] = {}, fin[kNormLanes] = {};
      const std::size_t begin = b * kNormBlock, end = std::min(total, begin + kNormBlock);
      while (t < count && offset + tensors[t].size <= begin) offset += tensors[t++].size;
      for (std::size_t u = t, at = offset; u < count && at < end; at += tensors[u++].size) {
        const std::size_t lo = std::max(begin, at), hi = std::min(end, at + tensors[u].size);
        if (lo < hi) accumulate_lanes(tensors[u].grad + (lo - at), hi - lo, lo - begin, sq, fin);
      }
      double s = 0.0, f = 0.0;
      for (int k = 0; k < kNormLanes; ++k) {
        s += sq[k];
        f += fin[k];
      }
      partials[2 * b] = s;
      partials[2 * b + 1] = f;
    }
  };

  const int team = team_size(total, threads);
#ifdef _OPENMP
  if (team > 1) {
#pragma omp parallel num_threads(team)
    {
      const std::size_t n = std::size_t(omp_get_num_threads()), id = std::size_t(omp_get_thread_num());
      reduce_blocks(blocks * id / n, blocks * (id + 1) / n);
    }
  } else
#endif
  {
    reduce_blocks(0, blocks);
  }
  double s = 0.0, f = 0.0;
  for (std::size_t b = 0; b < blocks; ++b) {
    s += partials[2 * b];
    f += partials[2 * b + 1];
  }
  *squares = s;
  *finite = f;
}

PYOPTIM_END_NAMESPACE
