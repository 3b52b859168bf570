// Rprop (Riedmiller and Braun, 1993; the variant without weight backtracking):
// torch.optim.Rprop. Only the sign of the gradient is used; each element has its
// own step size, grown while the sign holds and shrunk when it flips.
#pragma once

#include <algorithm>

#include "../common.hpp"

PYOPTIM_BEGIN_NAMESPACE

struct Rprop {
  static constexpr const char* name = "rprop";

  // lr is not an option: it only sets step_size before the first step (the
  // optimizer's initial state), as in torch.
  enum class Option : int { etaminus, etaplus, step_size_min, step_size_max, maximize, count };
  static constexpr const char* option_names[] = {"etaminus", "etaplus", "step_size_min", "step_size_max",
                                                 "maximize"};
  static constexpr int n_options = int(Option::count);

  // prev: the gradient the last step used (zero where its sign flipped);
  // step_size: each element's step, within [step_size_min, step_size_max].
  enum State : int { prev, step_size, n_state };
  static constexpr const char* state_names[] = {"prev", "step_size"};

  static bool uses_state(const double*, int) { return true; }

  template <class T>
  struct Step {
    T grad_sign, etaminus, etaplus, size_min, size_max;

    Step(Options<Option> o, std::int64_t)
        : grad_sign(o.flag(Option::maximize) ? T(-1) : T(1)),
          etaminus(T(o[Option::etaminus])),
          etaplus(T(o[Option::etaplus])),
          size_min(T(o[Option::step_size_min])),
          size_max(T(o[Option::step_size_max])) {}
  };

  // The selects below are written one at a time (no nesting), which every
  // instruction set, SSE2 included, turns into packed compares and blends.
  template <class T, class Gradient>
  static void update(const Step<T>& s, const Gradient& in, std::size_t n, T* PYOPTIM_RESTRICT param,
                     const T* PYOPTIM_RESTRICT grad, T* const* state) {
    T* PYOPTIM_RESTRICT last = state[prev];
    T* PYOPTIM_RESTRICT size = state[step_size];
    PYOPTIM_SIMD
    for (std::size_t i = 0; i < n; ++i) {
      const T g = in(grad[i]) * s.grad_sign;
      // The sign of the product, not of each factor: torch's test, underflow included.
      const T agreement = g * last[i];
      T factor = agreement > T(0) ? s.etaplus : T(1);
      factor = agreement < T(0) ? s.etaminus : factor;
      const T bounded = std::min(std::max(size[i] * factor, s.size_min), s.size_max);  // NaN stays NaN
      const T used = agreement < T(0) ? T(0) : g;  // a flipped sign: no move, and no flip next step
      // torch.sign(used): 0 for NaN (a NaN gradient element leaves its parameter
      // and step size alone that step, as in torch) and for -0.
      T direction = used > T(0) ? T(1) : T(0);
      direction = used < T(0) ? T(-1) : direction;
      size[i] = bounded;
      last[i] = used;
      param[i] = param[i] - direction * bounded;
    }
  }
};

PYOPTIM_END_NAMESPACE
