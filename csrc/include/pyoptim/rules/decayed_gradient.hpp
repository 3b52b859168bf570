// The gradient as torch.optim's rules read it: negated under maximize, plus
// weight_decay * param where the decay is coupled (L2 decay, added to the
// gradient). Shared by every rule that has those two options.
#pragma once

#include "../common.hpp"

PYOPTIM_BEGIN_NAMESPACE

template <class T>
struct DecayedGradient {
  T sign, weight_decay;
  bool coupled;  // a decay to add: weight_decay != 0 and not decoupled

  DecayedGradient(double wd, bool maximize, bool decoupled = false)
      : sign(maximize ? T(-1) : T(1)), weight_decay(T(wd)), coupled(!decoupled && wd != 0.0) {}

  // `Coupled` is `coupled` made a template argument (with_flags), so that
  // each loop is compiled without the branch. A pure value in and out keeps
  // the vectorised loop as tight as the hand-inlined one.
  template <bool Coupled, class Gradient>
  T read(const Gradient& in, T grad, T param) const {
    T g = in(grad) * sign;
    if constexpr (Coupled) g = g + weight_decay * param;
    return g;
  }
};

PYOPTIM_END_NAMESPACE
