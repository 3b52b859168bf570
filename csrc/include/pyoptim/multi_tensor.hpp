// Applies one update rule to a list of tensors in a single call, splitting the
// work among OpenMP threads. Plain C++17, no Python.
#pragma once

#include <algorithm>

#include "common.hpp"
#include "float_mode.hpp"
#include "gradient.hpp"
#include "tensor.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

PYOPTIM_BEGIN_NAMESPACE

// Work is split on cache-line boundaries so threads never share a line.
template <class T>
constexpr std::size_t kSplitGranule = kCacheLine / sizeof(T);

// Elements before `p` reaches a cache-line boundary. Vector loads that straddle
// two lines slow an update markedly once its arrays outgrow L2, and NumPy aligns
// arrays to 16 bytes only; so each pass does these few elements on their own first.
template <class T>
std::size_t elements_to_cache_line(const T* p) {
  return (kCacheLine - reinterpret_cast<std::uintptr_t>(p) % kCacheLine) % kCacheLine / sizeof(T);
}

// Updates elements [begin, end) of the tensors seen as one concatenated range.
template <class Rule, class T, class Gradient>
void update_range(const typename Rule::template Step<T>& step, const Gradient& gradient,
                  const TensorRef<T>* tensors, std::size_t count, std::size_t begin, std::size_t end) {
  // Local copies: the compiler can then prove that no store to the arrays
  // changes a per-step scalar, and keep them in registers.
  const typename Rule::template Step<T> scalars = step;
  const Gradient reader = gradient;
  std::size_t offset = 0;  // start of tensor t in the concatenated range
  for (std::size_t t = 0; t < count && offset < end; offset += tensors[t].size, ++t) {
    const TensorRef<T>& x = tensors[t];
    const std::size_t lo = std::max(begin, offset), hi = std::min(end, offset + x.size);
    if (lo >= hi) continue;
    // Two pieces: the elements before the parameter's first cache-line
    // boundary, then the rest. The optimizers allocate state at the
    // parameter's offset from a line (pyoptim.memory), so the states reach
    // the boundary with it. Each element's update depends on that element
    // alone, so the cut changes no bits.
    const std::size_t first = lo - offset, last = hi - offset;
    const std::size_t cuts[3] = {first, std::min(last, first + elements_to_cache_line(x.param + first)), last};
    for (int piece = 0; piece < 2; ++piece) {
      const std::size_t at = cuts[piece], n = cuts[piece + 1] - at;
      if (n == 0) continue;
      T* state[kMaxState];
      for (int k = 0; k < kMaxState; ++k) state[k] = x.state[k] ? x.state[k] + at : nullptr;
      Rule::update(scalars, reader, n, x.param + at, x.grad + at, state);
    }
  }
}

template <class Rule, class T, class Gradient>
void step_tensors_with(const double* options, std::int64_t step, const double* rule_scalars_now,
                       const Gradient& gradient, const TensorRef<T>* tensors, std::size_t count, int threads) {
  const typename Rule::template Step<T> scalars = make_step<Rule, T>(options, step, rule_scalars_now);
  std::size_t total = 0;
  for (std::size_t t = 0; t < count; ++t) total += tensors[t].size;

  const int team = team_size(total, threads);
  const FloatMode mode = FloatMode::for_update();  // every thread computes in the caller's mode
#ifdef _OPENMP
  if (team > 1) {
#pragma omp parallel num_threads(team)
    {
      const FloatMode::Scope in_mode(mode);
      const std::size_t n = std::size_t(omp_get_num_threads()), id = std::size_t(omp_get_thread_num());
      const std::size_t granules = (total + kSplitGranule<T> - 1) / kSplitGranule<T>;
      const std::size_t begin = std::min(total, granules * id / n * kSplitGranule<T>);
      const std::size_t end = std::min(total, granules * (id + 1) / n * kSplitGranule<T>);
      update_range<Rule, T>(scalars, gradient, tensors, count, begin, end);
    }
    return;
  }
#endif
  const FloatMode::Scope in_mode(mode);
  update_range<Rule, T>(scalars, gradient, tensors, count, 0, total);
}

// One optimizer step of `Rule` over `count` tensors. `options` holds
// Rule::n_options values in Rule::Option order; `step` counts from 1; `clip`
// (scale and clamp each gradient element) is applied within the same pass;
// `scalars` is the rule's scalar state already advanced to this step (unused
// by rules without any). Each element's update depends on that element alone,
// so the result is bit-identical for every thread count.
template <class Rule, class T>
void step_tensors(const double* options, std::int64_t step, const TensorRef<T>* tensors,
                  std::size_t count, int threads, const GradientClip& clip = {},
                  const double* scalars = nullptr) {
  if (clip.active())
    step_tensors_with<Rule, T>(options, step, scalars, ClippedGradient<T>(clip), tensors, count, threads);
  else
    step_tensors_with<Rule, T>(options, step, scalars, RawGradient<T>{}, tensors, count, threads);
}

PYOPTIM_END_NAMESPACE
