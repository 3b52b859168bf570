// Per-tensor reductions a rule's update needs (LAMB's and LARS's trust ratios
// from the norms of the parameter and of the update). Plain C++17, no Python.
//
// A rule with reductions declares n_reductions and reduction_names, a first
// pass reduce(step, gradient, n, param, grad, state, sums) over one block that
// writes the block's n_reductions sums (and may write state, as LAMB's moments), and
// tensor_step(step, sums): the per-tensor scalars its update (the second
// pass) takes from the tensor's sums. The driver (multi_tensor.hpp) calls
// reduce() on fixed blocks of each tensor and sums the blocks in order, so
// the sums have the same bits for every thread count and instruction set.
#pragma once

#include <algorithm>

#include "common.hpp"
#include "gradient.hpp"
#include "tensor.hpp"

namespace pyoptim {

// Blocks of a tensor's reductions: kNormBlock elements each from the tensor's start.
inline std::size_t reduction_blocks(std::size_t n) { return (n + kNormBlock - 1) / kNormBlock; }

// Doubles of scratch a step of a rule with `n_reductions` needs over these tensors.
template <class T>
std::size_t reduction_scratch(int n_reductions, const TensorRef<T>* tensors, std::size_t count) {
  std::size_t blocks = 0;
  for (std::size_t t = 0; t < count; ++t) blocks += reduction_blocks(tensors[t].size);
  return blocks * std::size_t(n_reductions);
}

}  // namespace pyoptim

PYOPTIM_BEGIN_NAMESPACE

template <class Rule, class = void>
struct rule_reductions {
  static constexpr int count = 0;
};
template <class Rule>
struct rule_reductions<Rule, std::void_t<decltype(Rule::n_reductions)>> {
  static constexpr int count = Rule::n_reductions;
};

// How a rule's reduce() sums a block: element j of the block feeds lane
// j % kNormLanes of each sum, the lanes are then added in order (lane_total),
// so every SIMD width adds the same numbers in the same order. The loop is the
// rule's own, written as
//   double a[kNormLanes] = {};
//   for (std::size_t j = 0; j < n; j += kNormLanes) {
//     const std::size_t lanes = lanes_at(j, n);
//     PYOPTIM_SIMD for (std::size_t k = 0; k < lanes; ++k) a[k] += term(j + k);
//   }
//   sums[0] = lane_total(a);
// (local accumulators and plain loops: what the vectoriser handles best).
inline std::size_t lanes_at(std::size_t j, std::size_t n) { return std::min<std::size_t>(kNormLanes, n - j); }

inline double lane_total(const double (&lanes)[kNormLanes]) {
  double s = 0.0;
  for (int k = 0; k < kNormLanes; ++k) s += lanes[k];
  return s;
}

PYOPTIM_END_NAMESPACE
