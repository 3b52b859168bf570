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

#include <vector>

#include "rules.hpp"

PYOPTIM_BEGIN_NAMESPACE

// One step of `Rule` over a single contiguous array of n elements. A rule with
// scalar state (NAdam's mu_product, ASGD's eta and mu: pyoptim._core.RULES[rule]
// ["scalars"] names them) keeps it in `scalars`, which the step advances in
// place (null: the values before a first step, Rule::initial_scalars); the
// others ignore it. A rule with per-tensor reductions (LAMB, LARS) allocates
// its few doubles of scratch here.
template <class Rule, class T>
inline void step_one(const double* options, std::int64_t step, T* param, const T* grad, T* const* state,
                     std::size_t n, int threads, double* scalars = nullptr) {
  TensorRef<T> tensor{};
  tensor.param = param;
  tensor.grad = grad;
  for (int k = 0; k < Rule::n_state; ++k) tensor.state[k] = state[k];
  tensor.size = n;
  double initial[rule_scalars<Rule>::count > 0 ? rule_scalars<Rule>::count : 1];
  if constexpr (rule_scalars<Rule>::count > 0) {
    if (!scalars) {
      Rule::initial_scalars(options, initial);
      scalars = initial;
    }
  }
  std::vector<double> scratch(reduction_scratch(rule_reductions<Rule>::count, &tensor, 1));
  with_scalars<Rule, double>(options, step, scalars, [&](const double* used) {
    step_tensors<Rule, T>(options, step, &tensor, 1, threads, GradientClip{}, used, scratch.data());
  });
}

PYOPTIM_END_NAMESPACE
