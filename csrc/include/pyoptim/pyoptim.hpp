// The whole kernel API for C++ and Cython callers, in one include:
//
//   #include <pyoptim/pyoptim.hpp>
//   pyoptim::step_one<pyoptim::Adam, float>(options, step, param, grad, state, n, threads);
//
// Options are doubles in the rule's Option order (pyoptim._core.RULES[rule]
// ["options"] in Python), state the rule's state arrays (nullptr where unused).
// Compiled with the caller's flags: for the run-time-dispatched SIMD builds, go
// through the Python package instead.
#pragma once

#include "rules.hpp"

PYOPTIM_BEGIN_NAMESPACE

// One step of `Rule` over a single contiguous array of n elements. A rule with
// scalar state (NAdam's mu_product; pyoptim._core.RULES[rule]["scalars"] lists
// them and their initial values) takes it in `scalars`, which the step advances
// in place; the others ignore it.
template <class Rule, class T>
inline void step_one(const double* options, std::int64_t step, T* param, const T* grad, T* const* state,
                     std::size_t n, int threads, double* scalars = nullptr) {
  TensorRef<T> tensor{};
  tensor.param = param;
  tensor.grad = grad;
  for (int k = 0; k < Rule::n_state; ++k) tensor.state[k] = state[k];
  tensor.size = n;
  if constexpr (rule_scalars<Rule>::count > 0) {
    double initial[rule_scalars<Rule>::count];
    if (!scalars) {
      for (int k = 0; k < rule_scalars<Rule>::count; ++k) initial[k] = Rule::scalar_initial[k];
      scalars = initial;
    }
    Rule::advance_scalars(options, step, scalars);
  }
  step_tensors<Rule, T>(options, step, &tensor, 1, threads, GradientClip{}, scalars);
}

PYOPTIM_END_NAMESPACE
