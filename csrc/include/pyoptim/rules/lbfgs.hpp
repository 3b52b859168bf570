// L-BFGS's parameter move (as torch.optim.LBFGS): p = p + lr * d, the direction d
// in the grad slot. The rest of L-BFGS (the two-loop recursion over its history,
// the strong Wolfe line search, the closure calls) is Python over NumPy's BLAS
// (pyoptim/optim/lbfgs.py), which also calls this rule as an in-place axpy.
#pragma once

#include "../common.hpp"

PYOPTIM_BEGIN_NAMESPACE

struct LBFGS {
  static constexpr const char* name = "lbfgs";

  enum class Option : int { step_size, count };
  static constexpr const char* option_names[] = {"step_size"};
  static constexpr int n_options = int(Option::count);

  enum State : int { n_state };
  static constexpr const char* state_names[] = {""};  // none: n_state is 0

  static bool uses_state(const double*, int) { return false; }

  template <class T>
  struct Step {
    T step_size;
    Step(Options<Option> o, std::int64_t) : step_size(T(o[Option::step_size])) {}
  };

  template <class T, class Gradient>
  static void update(const Step<T>& s, const Gradient& in, std::size_t n, T* PYOPTIM_RESTRICT param,
                     const T* PYOPTIM_RESTRICT direction, T* const*) {
    PYOPTIM_SIMD
    for (std::size_t i = 0; i < n; ++i) param[i] = param[i] + s.step_size * in(direction[i]);
  }
};

PYOPTIM_END_NAMESPACE
