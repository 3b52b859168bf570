// Not an optimizer: the speed limit of one. Reads the parameter, the gradient
// and `n_state_used` state arrays and writes the parameter and the states back,
// adding scale * gradient to each (scale 0 leaves the values as they were),
// through the same driver as the rules. This kernel's time on a rule's own
// arrays divided by the rule's is how close the rule runs to memory speed
// (see bench/).
#pragma once

#include "../common.hpp"

PYOPTIM_BEGIN_NAMESPACE

struct MemoryRoof {
  static constexpr const char* name = "memory_roof";

  enum class Option : int { n_state_used, scale, count };
  static constexpr const char* option_names[] = {"n_state_used", "scale"};
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
    Step(Options<Option> o, std::int64_t) : states(int(o[Option::n_state_used])), scale(T(o[Option::scale])) {}
  };

  template <class T, class Gradient>
  static void update(const Step<T>& s, const Gradient& in, std::size_t n, T* PYOPTIM_RESTRICT param,
                     const T* PYOPTIM_RESTRICT grad, T* const* state) {
    T* PYOPTIM_RESTRICT a = state[s0];
    T* PYOPTIM_RESTRICT b = state[s1];
    T* PYOPTIM_RESTRICT c = state[s2];
    T* PYOPTIM_RESTRICT d = state[s3];
    with_flags({s.states > 0, s.states > 1, s.states > 2, s.states > 3},
               [&](auto use_a, auto use_b, auto use_c, auto use_d) {
                 PYOPTIM_SIMD
                 for (std::size_t i = 0; i < n; ++i) {
                   const T g = s.scale * in(grad[i]);
                   param[i] = param[i] + g;
                   if constexpr (use_a) a[i] = a[i] + g;
                   if constexpr (use_b) b[i] = b[i] + g;
                   if constexpr (use_c) c[i] = c[i] + g;
                   if constexpr (use_d) d[i] = d[i] + g;
                 }
               });
  }
};

PYOPTIM_END_NAMESPACE
