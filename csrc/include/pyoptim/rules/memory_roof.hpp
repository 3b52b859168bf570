// Not an optimizer: the speed limit of one. Reads the parameter, the gradient
// and `n_state_used` state arrays and writes the parameter and the states back,
// adding scale * gradient to each (scale 0 leaves the values as they were),
// through the same driver as the rules. This kernel's time on a rule's own
// arrays divided by the rule's is how close the rule runs to memory speed
// (see bench/). A pass of a two-pass rule (LAMB, LARS) reads some arrays
// without writing them: `param_read_only` and `last_state_read_only` say so,
// and such an array's elements join the sum (times scale) instead.
#pragma once

#include <algorithm>

#include "../common.hpp"
#include "../gradient.hpp"

PYOPTIM_BEGIN_NAMESPACE

struct MemoryRoof {
  static constexpr const char* name = "memory_roof";

  enum class Option : int { n_state_used, scale, param_read_only, last_state_read_only, count };
  static constexpr const char* option_names[] = {"n_state_used", "scale", "param_read_only",
                                                 "last_state_read_only"};
  static constexpr int n_options = int(Option::count);

  enum State : int { s0, s1, s2, s3, n_state };
  static constexpr const char* state_names[] = {"s0", "s1", "s2", "s3"};

  static bool uses_state(const double* o, int state) {
    return state < Options<Option>(o)[Option::n_state_used];
  }

  template <class T>
  struct Step {
    int states;
    T scale;
    bool param_read_only, last_state_read_only;
    Step(Options<Option> o, std::int64_t)
        : states(int(o[Option::n_state_used])),
          scale(T(o[Option::scale])),
          param_read_only(o.flag(Option::param_read_only)),
          last_state_read_only(o.flag(Option::last_state_read_only)) {}
  };

  // Where a read-only pass leaves its sum (one per thread, never read).
  template <class T>
  static T& sink() {
    static thread_local T value = T(0);
    return value;
  }

  template <int States, bool ParamWritten, bool LastWritten, class T, class Gradient>
  static void pass(T scale, const Gradient& in, std::size_t n, T* PYOPTIM_RESTRICT param,
                   const T* PYOPTIM_RESTRICT grad, T* const* state) {
    T* PYOPTIM_RESTRICT a = state[s0];
    T* PYOPTIM_RESTRICT b = state[s1];
    T* PYOPTIM_RESTRICT c = state[s2];
    T* PYOPTIM_RESTRICT d = state[s3];
    T* PYOPTIM_RESTRICT last = States == 0 ? nullptr : state[States - 1];
    constexpr bool writes = ParamWritten || States > 1 || (States == 1 && LastWritten);
    if constexpr (!writes) {
      // A pass that only reads (LARS's first) still has to produce something, or
      // the compiler drops its loads: lane sums, as a rule's reduction makes.
      T lanes[kNormLanes] = {};
      for (std::size_t j = 0; j < n; j += kNormLanes) {
        const std::size_t width = std::min<std::size_t>(kNormLanes, n - j);
        PYOPTIM_SIMD
        for (std::size_t k = 0; k < width; ++k) {
          T g = scale * in(grad[j + k]) + scale * param[j + k];
          if constexpr (States > 0) g = g + scale * last[j + k];
          lanes[k] += g;
        }
      }
      for (int k = 0; k < kNormLanes; ++k) sink<T>() += lanes[k];
      return;
    }
    PYOPTIM_SIMD
    for (std::size_t i = 0; i < n; ++i) {
      T g = scale * in(grad[i]);
      if constexpr (!ParamWritten) g = g + scale * param[i];
      if constexpr (States > 0 && !LastWritten) g = g + scale * last[i];
      if constexpr (ParamWritten) param[i] = param[i] + g;
      if constexpr (States > 0 && (States > 1 || LastWritten)) a[i] = a[i] + g;
      if constexpr (States > 1 && (States > 2 || LastWritten)) b[i] = b[i] + g;
      if constexpr (States > 2 && (States > 3 || LastWritten)) c[i] = c[i] + g;
      if constexpr (States > 3 && LastWritten) d[i] = d[i] + g;
    }
  }

  template <class T, class Gradient>
  static void update(const Step<T>& s, const Gradient& in, std::size_t n, T* PYOPTIM_RESTRICT param,
                     const T* PYOPTIM_RESTRICT grad, T* const* state) {
    with_flags({!s.param_read_only, !s.last_state_read_only}, [&](auto param_written, auto last_written) {
      constexpr bool P = decltype(param_written)::value, L = decltype(last_written)::value;
      switch (s.states) {
        case 0: return pass<0, P, L>(s.scale, in, n, param, grad, state);
        case 1: return pass<1, P, L>(s.scale, in, n, param, grad, state);
        case 2: return pass<2, P, L>(s.scale, in, n, param, grad, state);
        case 3: return pass<3, P, L>(s.scale, in, n, param, grad, state);
        default: return pass<4, P, L>(s.scale, in, n, param, grad, state);
      }
    });
  }
};

PYOPTIM_END_NAMESPACE
