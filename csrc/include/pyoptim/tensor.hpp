// The plain data the kernels work on. Shared by every instruction-set build.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pyoptim {

// The alignment the kernels work toward: a cache line on x86-64 and on most
// aarch64 cores.
constexpr std::size_t kCacheLine = 64;

// The most state arrays any rule keeps per parameter.
constexpr int kMaxState = 4;

// One parameter: its values, its gradient and the rule's state arrays (all of
// `size` elements, contiguous; unused state slots are null).
template <class T>
struct TensorRef {
  T* param;
  const T* grad;
  T* state[kMaxState];
  std::size_t size;
};

// Below this many elements per thread, a thread team costs more than it saves
// (measured: 2 threads gain 1.2-1.4x at 64K elements, 1.6-2x from 128K on).
constexpr std::size_t kMinElementsPerThread = std::size_t(1) << 16;

}  // namespace pyoptim
