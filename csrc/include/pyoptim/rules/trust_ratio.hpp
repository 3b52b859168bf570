// What LAMB and LARS share: the per-tensor reductions (the sums of squares of
// the parameter and of the update direction) and the layer-wise trust ratio
// they scale the step by, as optax's scale_by_trust_ratio:
// coefficient * ||p|| / (||u|| + eps), 1 where either norm is 0 (a NaN norm stays NaN).
#pragma once

#include <cmath>

#include "../common.hpp"
#include "../reduction.hpp"

PYOPTIM_BEGIN_NAMESPACE

struct TrustRatio {
  enum Reduction : int { param_squares, update_squares, n_reductions };
  static constexpr const char* reduction_names[] = {"param_squares", "update_squares"};

  template <class T>
  struct TensorStep {
    T neg_step;  // -lr * trust ratio
  };

  template <class T>
  static TensorStep<T> scaled_step(double lr, bool use_ratio, double coefficient, double eps, const double* sums) {
    const double param_norm = std::sqrt(sums[param_squares]), update_norm = std::sqrt(sums[update_squares]);
    const double ratio = !use_ratio || param_norm == 0.0 || update_norm == 0.0
                             ? 1.0
                             : coefficient * param_norm / (update_norm + eps);
    return {T(-lr * ratio)};
  }
};

PYOPTIM_END_NAMESPACE
