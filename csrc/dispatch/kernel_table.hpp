// The table of entry points one instruction-set build of the kernels exports.
#pragma once

#include <pyoptim/rules.hpp>

namespace pyoptim {

enum class RuleId : int {
#define PYOPTIM_RULE_ID(Rule) Rule,
  PYOPTIM_FOR_EACH_RULE(PYOPTIM_RULE_ID)
#undef PYOPTIM_RULE_ID
      count
};
constexpr int kRuleCount = int(RuleId::count);

template <class T>
using StepFn = void (*)(const double* options, std::int64_t step, const TensorRef<T>* tensors,
                        std::size_t count, int threads, const GradientClip& clip, const double* scalars,
                        double* scratch);
template <class T>
using SquaresFn = void (*)(const TensorRef<T>* tensors, std::size_t count, int threads, double* partials,
                           double* squares, double* finite);

struct KernelTable {
  const char* isa;
  StepFn<float> step_f32[kRuleCount];
  StepFn<double> step_f64[kRuleCount];
  SquaresFn<float> gradient_squares_f32;
  SquaresFn<double> gradient_squares_f64;
};

}  // namespace pyoptim
