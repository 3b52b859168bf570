// The plain data the kernels work on. Shared by every instruction-set build.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace pyoptim {

// The alignment the kernels work toward: a cache line on x86-64 and on most
// aarch64 cores.
constexpr std::size_t kCacheLine = 64;

// The most state arrays any rule keeps per parameter.
constexpr int kMaxState = 4;

// One parameter: its values, its gradient and the rule's state arrays (all of
// `size` elements, contiguous; unused state slots are null). Rules whose state
// is shaped by the parameter's axes (Adafactor's factored second moment) also
// read its shape as a stack of matrices: `matrix` for a parameter of two or
// more axes, seen C-contiguous as `batch` matrices of `rows` x `cols` (the last
// two axes); its state arrays are then sized from those (see the rule).
template <class T>
struct TensorRef {
  T* param;
  const T* grad;
  T* state[kMaxState];
  std::size_t size;
  bool matrix = false;
  std::size_t batch = 0, rows = 0, cols = 0;
};

// What a state array is shaped like, for rules whose state follows the
// parameter's axes (a rule declares `state_shapes[]`; others keep every state
// like the parameter). For a parameter of shape (..., rows, cols):
//   like_param:   the parameter's shape;
//   matrix_rows:  (..., rows, 1), kept only by parameters of two or more axes;
//   matrix_cols:  (..., 1, cols), likewise;
//   unless_matrix: the parameter's shape, kept only by parameters of fewer axes.
enum class StateShape : int { like_param, matrix_rows, matrix_cols, unless_matrix };

// Below this many elements per thread, a thread team costs more than it saves
// (measured: 2 threads gain 1.2-1.4x at 64K elements, 1.6-2x from 128K on;
// bench/test_threads.py measures where 2 threads start to pay).
constexpr std::size_t kMinElementsPerThread = std::size_t(1) << 16;

// The threshold in force: kMinElementsPerThread unless changed (for the
// threshold benchmark; pyoptim._core.set_min_elements_per_thread).
inline std::atomic<std::size_t> min_elements_per_thread{kMinElementsPerThread};

// Threads worth starting for `total` elements, at most `threads`.
inline int team_size(std::size_t total, int threads) {
  const std::size_t useful = total / std::max<std::size_t>(1, min_elements_per_thread.load(std::memory_order_relaxed));
  const std::size_t wanted = threads > 1 ? std::size_t(threads) : 1;
  return int(useful < 1 ? 1 : (useful < wanted ? useful : wanted));
}

}  // namespace pyoptim
